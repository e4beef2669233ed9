//! [`Context`]: what a handler knows of its request — who is calling ([`Caller`]), the application
//! state, the API root that links start from, the path and the raw query — and the steps every
//! handler takes with it: parsing the query with the scope checks that follow, and running its
//! database work.

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::conditional::Precondition;
use super::view::View;
use crate::auth::Caller;
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::document::{LinkBase, ResourceType};
use crate::jsonapi::query::{self, Endpoint, Options, Query};
use crate::jsonapi::schema::{Field, Relationship as _};
use crate::jsonapi::uri;
use crate::models::includes::{Includes, Needs};
use crate::permissions::{self, Access, Principal};
use crate::schema::{self, Relationship};
use crate::state::AppState;

/// One `/api/v2` request as its handler sees it.
pub struct Context {
    pub state: web::Data<AppState>,
    pub caller: Caller,
    /// The absolute URL of `/api/v2`, for links.
    pub base: LinkBase,
    /// The request path below the API root, e.g. `/phoneNumbers/7`.
    pub path: String,
    /// The raw query string, parsed strictly per endpoint by the handler.
    pub(super) raw_query: String,
    /// The request itself (a reference-counted handle), for its method and headers.
    request: HttpRequest,
}

impl FromRequest for Context {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, caller) = (req.clone(), Caller::from_request(req, payload));
        Box::pin(async move {
            let caller = caller.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let base = LinkBase::new(api_root(&req, state.config.public_url.as_deref()));
            let path = req.path().strip_prefix("/api/v2").unwrap_or_default();
            Ok(Context {
                path: path.to_owned(),
                raw_query: req.query_string().to_owned(),
                base,
                state,
                caller,
                request: req,
            })
        })
    }
}

/// The absolute URL of the API root as the client addressed it (or as configured), a valid URI
/// whatever the request's `Host` holds.
fn api_root(req: &HttpRequest, public_url: Option<&str>) -> String {
    match public_url {
        Some(origin) => format!("{origin}/api/v2"),
        None => {
            let info = req.connection_info();
            let mut root = uri::origin(info.scheme(), info.host());
            root.push_str("/api/v2");
            root
        }
    }
}

impl Context {
    pub fn principal(&self) -> &Principal {
        &self.caller.principal
    }

    pub fn method(&self) -> &Method {
        self.request.method()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    pub fn request(&self) -> &HttpRequest {
        &self.request
    }

    /// `If-Match`, read once.
    pub fn precondition(&self) -> Precondition {
        Precondition::of(&self.request)
    }

    /// The region that numbers without a country code are read in.
    pub fn default_region(&self) -> String {
        self.state.config.default_region.clone()
    }

    /// Parses the query string for an endpoint whose primary data are of `F`'s type (400 on
    /// anything the contract does not allow), then checks the scopes: `access` on the primary type
    /// and read on every included type (403).
    pub fn query<F: Field>(&self, endpoint: Endpoint, access: Access) -> ApiResult<Query<F>> {
        let region = self.default_region();
        let normalize = move |value: &str| {
            crate::domain::phone_number::normalize_filter_value(value, &region)
                .map_err(|error| error.detail)
        };
        let options = Options {
            endpoint,
            members: &schema::members,
            normalize_phone: &normalize,
        };
        let query = query::parse::<F>(&self.raw_query, &options)?;
        query::check_includes(&query)?;
        self.require(F::TYPE, access)?;
        for rel in query.include.iter().flatten().flatten() {
            self.require(rel.spec().target, Access::Read)?;
        }
        Ok(query)
    }

    /// Parses the query of a paginated relationship endpoint, whose pages list `F`'s type
    /// (page parameters and `count` only), after the read scope of `owner`, the type that has
    /// the relationship.
    pub fn linkage_query<F: Field>(&self, owner: ResourceType) -> ApiResult<Query<F>> {
        let reject = |_: &str| Err(String::new());
        let options = Options {
            endpoint: Endpoint::Linkage,
            members: &schema::members,
            normalize_phone: &reject,
        };
        let query = query::parse::<F>(&self.raw_query, &options)?;
        self.require(owner, Access::Read)?;
        Ok(query)
    }

    /// 400 for any query parameter, on endpoints that take none and check their scopes
    /// themselves (the entry point, `/operations`).
    pub fn no_query_parameters(&self) -> ApiResult<()> {
        let reject = |_: &str| Err(String::new());
        let options = Options {
            endpoint: Endpoint::Bare,
            members: &schema::members,
            normalize_phone: &reject,
        };
        query::parse::<schema::UserField>(&self.raw_query, &options)?;
        Ok(())
    }

    /// 403 `unauthorizedOauthScope` unless the token has the scope.
    pub fn require(&self, kind: ResourceType, access: Access) -> ApiResult<()> {
        Ok(permissions::require_scope(self.principal(), kind, access)?)
    }

    /// The view of resources this query asks for.
    pub fn view<'a, F: Field<Rel = Relationship>>(&'a self, query: &'a Query<F>) -> View<'a> {
        View {
            base: &self.base,
            fields: &query.fields,
            meta_for: query.authorization_meta.then_some(self.principal()),
            on_request: (Relationship::ALL.iter().copied())
                .filter(|rel| rel.spec().on_request && query.names(*rel))
                .collect(),
        }
    }

    /// What a response to this query needs loaded besides its primary rows.
    pub fn needs<F: Field<Rel = Relationship>>(&self, query: &Query<F>) -> Needs {
        use Relationship::{
            PhoneNumberProspect, PhoneNumberSharedWith, ProspectOwner, ProspectPhoneNumbers,
        };
        let has = |path: &[Relationship]| query.includes(path);
        Needs {
            includes: Includes {
                prospect: has(&[PhoneNumberProspect]),
                prospect_owner: has(&[PhoneNumberProspect, ProspectOwner]),
                phone_numbers: has(&[ProspectPhoneNumbers]),
                owner: has(&[ProspectOwner]),
                shared_with: has(&[PhoneNumberSharedWith]),
                shared_with_owner: has(&[PhoneNumberSharedWith, ProspectOwner]),
            },
            meta: query.authorization_meta,
            shared_with: query.names(PhoneNumberSharedWith),
        }
    }

    /// Runs `work` on the database: GETs (and HEADs) as reads ([`crate::db::read`]), every other method on the
    /// blocking pool ([`crate::db::run`]), whose write transactions may wait for the write lock.
    ///
    /// A caller authenticated from the credential cache is checked again here, on the same
    /// connection after `work`: if a revocation has arrived, the cache is emptied and the token
    /// looked up, and a revoked token gets 401 instead of what `work` produced.
    pub async fn database<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        // A credential from the cache is confirmed after this work's statements (see
        // `auth::credentials`): notifications of a revocation committed before they began have
        // reached this connection by then.
        let recheck = (self.caller.cached.clone()).map(|cached| (cached, self.state.clone()));
        let work = move |conn: &mut DbConnection| {
            let result = work(conn);
            if let Some((cached, state)) = recheck {
                cached.confirm();
                if cached.revocations_arrived(conn, &state.pool) {
                    state.credentials.clear();
                    if state.credentials.look_up(conn, &cached.hash)?.is_none() {
                        return Err(ApiError::Unauthorized { token_sent: true });
                    }
                }
            }
            result
        };
        if matches!(*self.method(), Method::GET | Method::HEAD) {
            crate::db::read(&self.state.pool, work).await
        } else {
            crate::db::run(&self.state.pool, work).await
        }
    }
}
