//! The write rules of a webhook: admins only (after the scope), then the attributes, in the order
//! of API.md section 9.

use base64::Engine;

use crate::db::DbConnection;
use crate::domain::webhook_url;
use crate::errors::{ApiError, ApiResult, FieldError};
use crate::jsonapi::body::{self, Attributes, ResourceInput, Sent};
use crate::models::webhook::{NewWebhook, WebhookChanges};
use crate::models::Webhook;
use crate::permissions::{authorize, Access, Action, Principal};
use crate::resources::served::WebhookState;
use crate::schema::{WebhookField as F, RECORDED_TYPES};

/// 403 `unauthorizedRequest` unless the caller is an admin (the scope for `access` first).
pub fn authorize_admin(principal: &Principal, access: Access) -> ApiResult<()> {
    Ok(authorize(principal, &Action::ManageWebhooks(access))?)
}

/// The attributes of a webhook write, read and checked.
struct Draft {
    url: Sent<String>,
    resource_types: Sent<Vec<&'static str>>,
    active: Sent<bool>,
}

impl Draft {
    /// Reads the document: every problem is one 422 at its pointer.
    fn read(input: &ResourceInput) -> ApiResult<Draft> {
        let mut attributes = Attributes::<F>::new(input);
        let url = attributes.required_string(F::Url, webhook_url::MAX_CHARS);
        if let Sent::Value(text) = &url {
            if !webhook_url::is_valid(text) {
                attributes.reject(F::Url, URL_RULE);
            }
        }
        let draft = Draft {
            url,
            resource_types: attributes.names(F::ResourceTypes, RECORDED_TYPES),
            active: attributes.boolean(F::Active),
        };
        let mut errors = attributes.into_errors();
        for name in input.relationships.keys() {
            let pointer = format!(
                "{}/relationships/{}",
                input.pointer,
                body::pointer_token(name)
            );
            errors.push(FieldError::new(
                pointer,
                format!("`{name}` is not a relationship of webhook."),
            ));
        }
        if errors.is_empty() {
            Ok(draft)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// What `domain::webhook_url` takes, in words.
const URL_RULE: &str = "`url` must be an absolute http or https URL: `http://` or `https://`, a \
    host name or IPv4 address, an optional port, then a path and query of URI characters \
    (RFC 3986, `%` only in an escape); no user information and no fragment.";

/// `whsec_` and the base64 of 32 random bytes (the Standard Webhooks form).
fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// Creates a webhook; the answer shows its secret, this once.
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    input: &ResourceInput,
) -> ApiResult<WebhookState> {
    authorize_admin(principal, Access::Write)?;
    let draft = Draft::read(input)?;
    let Sent::Value(url) = draft.url else {
        let pointer = format!("{}/attributes/url", input.pointer);
        return Err(ApiError::invalid(pointer, "A webhook needs its `url`."));
    };
    let new = NewWebhook {
        url,
        resource_types: draft
            .resource_types
            .value()
            .unwrap_or(RECORDED_TYPES.to_vec()),
        active: draft.active.value().unwrap_or(true),
        secret: new_secret(),
    };
    let webhook = Webhook::create(conn, &new)?;
    Ok(WebhookState {
        webhook,
        pending: 0,
        shows_secret: true,
    })
}

/// Updates webhook `id` (partial).
pub fn update(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: &ResourceInput,
) -> ApiResult<WebhookState> {
    authorize_admin(principal, Access::Write)?;
    crate::resources::served::existing::<WebhookState>(conn, id)?;
    let draft = Draft::read(input)?;
    let changes = WebhookChanges {
        url: draft.url.value(),
        resource_types: draft.resource_types.value().map(|types| types.join(" ")),
        active: draft.active.value(),
    };
    let webhook = Webhook::update(conn, id, &changes)?;
    Ok(WebhookState::load(conn, vec![webhook])?.remove(0))
}

impl super::Deletable for WebhookState {
    /// Deletes the webhook and its queued deliveries (the journal records nothing for it; a
    /// webhook has no ETag, so there is no precondition to pass).
    const DELETE: super::Delete = |conn, _, id, _| Webhook::delete(conn, id);

    fn authorize_delete(_: &mut DbConnection, principal: &Principal, _: &Self) -> ApiResult<()> {
        authorize_admin(principal, Access::Delete)
    }
}
