//! The query parser (`jsonapi::query`) against the service's own declarations: what the service
//! accepts and refuses in each query parameter.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::{PhoneNumberField as P, ProspectField, Relationship as R, ResourceType, UserField};
use crate::jsonapi::query::*;
use crate::jsonapi::schema::Field;

/// A stand-in for the libphonenumber normaliser: NANP numbers, default region US.
fn normalize(input: &str) -> Result<String, String> {
    let plus = input.trim_start().starts_with('+');
    if input
        .chars()
        .any(|c| !(c.is_ascii_digit() || " ()-.+/".contains(c)))
    {
        return Err("not a phone number".into());
    }
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    match (plus, digits.len()) {
        (true, 8..=15) => Ok(format!("+{digits}")),
        (false, 10) => Ok(format!("+1{digits}")),
        (false, 11) if digits.starts_with('1') => Ok(format!("+{digits}")),
        _ => Err("not a valid number".into()),
    }
}

fn parse_on<F: Field>(raw: &str, endpoint: Endpoint) -> Result<Query<F>, QueryError> {
    parse::<F>(
        raw,
        &Options {
            endpoint,
            members: &super::members,
            normalize_phone: &normalize,
        },
    )
}

fn ok(raw: &str) -> Query<P> {
    parse_on(raw, Endpoint::Collection).unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn err(raw: &str) -> QueryError {
    match parse_on::<P>(raw, Endpoint::Collection) {
        Ok(q) => panic!("{raw}: accepted as {q:?}"),
        Err(e) => e,
    }
}

/// Asserts that `e` is the cursor pagination profile's error `name` (the end of its type URI).
fn assert_profile_error(e: &QueryError, name: &str) {
    let type_uri = e.kind.profile_error_type();
    let expected = format!("/{name}");
    assert!(
        type_uri.is_some_and(|t| t.ends_with(&expected)),
        "{e}: {type_uri:?}"
    );
}

/// Asserts a 400 of kind `Invalid` naming `parameter`.
fn rejects(raw: &str, parameter: &str) {
    let e = err(raw);
    assert_eq!(
        (e.parameter.as_str(), e.kind),
        (parameter, QueryErrorKind::Invalid),
        "{raw}: {e}"
    );
}

fn only_filter(raw: &str) -> Filter<P> {
    let q = ok(raw);
    assert_eq!(q.filters.len(), 1, "{raw}");
    q.filters
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!())
}

fn op(raw: &str) -> FilterOp {
    only_filter(raw).op
}

fn s(v: &str) -> FilterValue {
    FilterValue::Str(v.into())
}

fn t(y: i32, m: u32, d: u32, h: u32) -> FilterValue {
    FilterValue::DateTime(
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, 0, 0))
            .unwrap(),
    )
}

#[test]
fn empty_query_gives_defaults() {
    let q = ok("");
    assert_eq!(q, Query::default());
    assert_eq!(q.page.size, 50);
    assert_eq!(q.include, None);
    assert_eq!(ok("&&"), q);
}

#[test]
fn unknown_parameters_are_rejected_by_name() {
    for (raw, parameter) in [
        ("foo=1", "foo"),
        ("fooBar=1", "fooBar"),
        ("includes=x", "includes"),
        ("page[number]=2", "page[number]"),
        ("page%5Bnumber%5D=2", "page[number]"),
        ("fields=number", "fields"),
        ("fields[a][b]=x", "fields[a][b]"),
        ("sort[x]=id", "sort[x]"),
        ("filter=1", "filter"),
        ("filter[status=valid", "filter[status"),
        ("filter]status[=valid", "filter]status["),
        ("filter[status]x=valid", "filter[status]x"),
        ("Include=prospect", "Include"),
        ("=x", ""),
    ] {
        rejects(raw, parameter);
    }
}

#[test]
fn unknown_field_type_is_rejected() {
    rejects("fields[unknownType]=a", "fields[unknownType]");
}

#[test]
fn percent_encoded_brackets_mean_the_same() {
    let raw = only_filter("filter[status]=valid");
    assert_eq!(only_filter("filter%5Bstatus%5D=valid"), raw);
    assert_eq!(only_filter("filter%5bstatus%5d=valid"), raw);
    assert_eq!(
        raw,
        Filter {
            target: FilterTarget::Field(P::Status),
            op: FilterOp::AnyOf(vec![s("valid")])
        }
    );
    rejects("filter%5Bnope%5D=1", "filter[nope]");
    assert_eq!(
        ok("fields%5BphoneNumber%5D=number").fields,
        ok("fields[phoneNumber]=number").fields
    );
}

#[test]
fn repeats_identical_count_once_and_different_are_rejected() {
    assert_eq!(
        ok("sort=id&sort=id&page[size]=10&page%5Bsize%5D=10"),
        ok("sort=id&page[size]=10")
    );
    assert_eq!(
        ok("filter[status]=valid&filter[status]=valid")
            .filters
            .len(),
        1
    );
    rejects("sort=id&sort=-id", "sort");
    rejects("include=prospect&include=", "include");
    rejects("page[size]=10&page%5Bsize%5D=20", "page[size]");
    rejects(
        "filter[status]=valid&filter[status]=invalid",
        "filter[status]",
    );
    rejects("count=true&count=false", "count");
    rejects("fields[user]=name&fields[user]=email", "fields[user]");
    rejects(
        "newFilterSyntax=true&newFilterSyntax=false",
        "newFilterSyntax",
    );
    // Legacy syntax does not know lists in brackets, repeated or not.
    rejects(
        "filter[status][]=valid&filter[status][]=invalid",
        "filter[status][]",
    );
}

#[test]
fn include_paths() {
    assert_eq!(ok("include=").include, Some(vec![]));
    assert_eq!(ok("include").include, Some(vec![]));
    assert_eq!(
        ok("include=prospect").include,
        Some(vec![vec![R::PhoneNumberProspect]])
    );
    let both = Some(vec![
        vec![R::PhoneNumberProspect],
        vec![R::PhoneNumberProspect, R::ProspectOwner],
    ]);
    assert_eq!(ok("include=prospect.owner").include, both);
    assert_eq!(
        ok("include=prospect.owner,prospect,prospect.owner").include,
        both
    );
    for raw in [
        "include=prospect.nope",
        "include=nope",
        "include=prospect,",
        "include=prospect,,prospect.owner",
    ] {
        rejects(raw, "include");
    }
    rejects("include=prospect..owner", "include");
    rejects("include=owner", "include");
    let q = parse_on::<ProspectField>("include=owner,phoneNumbers.prospect", Endpoint::Collection)
        .unwrap();
    assert_eq!(
        q.include,
        Some(vec![
            vec![R::ProspectPhoneNumbers],
            vec![R::ProspectPhoneNumbers, R::PhoneNumberProspect],
            vec![R::ProspectOwner],
        ])
    );
    assert!(parse_on::<UserField>("include=owner", Endpoint::Collection).is_err());
}

#[test]
fn sparse_fieldsets() {
    let q = ok("fields[phoneNumber]=number,prospect,status&fields[user]=");
    assert_eq!(
        q.fields[&ResourceType::PhoneNumber],
        BTreeSet::from(["number", "prospect", "status"])
    );
    assert_eq!(q.fields[&ResourceType::User], BTreeSet::new());
    for raw in [
        "fields[phoneNumber]=nope",
        "fields[phoneNumber]=number,,status",
        "fields[phoneNumber]=id",
    ] {
        rejects(raw, "fields[phoneNumber]");
    }
    rejects("fields[prospect]=number", "fields[prospect]");
}

#[test]
fn sort_keys() {
    assert_eq!(
        ok("sort=-updatedAt,id").sort,
        vec![
            SortKey {
                field: P::UpdatedAt,
                descending: true
            },
            SortKey {
                field: P::Id,
                descending: false
            }
        ]
    );
    assert_eq!(
        ok("sort=-id").sort,
        vec![SortKey {
            field: P::Id,
            descending: true
        }]
    );
    for raw in [
        "sort=nope",
        "sort=rawNumber",
        "sort=countryCode",
        "sort=prospect",
        "sort=prospect.lastName",
        "sort=+id",
    ] {
        let e = err(raw);
        assert_eq!(
            (e.parameter.as_str(), e.kind),
            ("sort", QueryErrorKind::UnsupportedSort),
            "{raw}"
        );
    }
    for raw in [
        "sort=",
        "sort=id,",
        "sort=id,,order",
        "sort=-",
        "sort=id,-id",
        "sort=order,order",
    ] {
        rejects(raw, "sort");
    }
    assert!(parse_on::<UserField>("sort=name,-email", Endpoint::Collection).is_ok());
    assert!(parse_on::<UserField>("sort=role", Endpoint::Collection).is_err());
}

#[test]
fn page_size() {
    assert_eq!(ok("page[size]=1000").page.size, 1000);
    assert_eq!(ok("page[size]=1").page.size, 1);
    assert_eq!(ok("page[size]=007").page.size, 7);
    for raw in [
        "page[size]=0",
        "page[size]=-1",
        "page[size]=abc",
        "page[size]=",
        "page[size]=+5",
        "page[size]=%2B5",
        "page[size]=1.5",
        "page[size]=000",
    ] {
        rejects(raw, "page[size]");
    }
    for raw in ["page[size]=1001", "page[size]=99999999999999999999999"] {
        let e = err(raw);
        assert_eq!(e.parameter, "page[size]");
        assert_eq!(e.kind, QueryErrorKind::MaxPageSizeExceeded { max: 1000 });
        assert_profile_error(&e, "max-size-exceeded");
    }
}

#[test]
fn page_cursors() {
    let q = ok("page[after]=abc_-1&page[size]=5");
    assert_eq!(
        q.page,
        PageParams {
            size: 5,
            after: Some("abc_-1".into()),
            before: None
        }
    );
    assert_eq!(ok("page[before]=xyz").page.before.as_deref(), Some("xyz"));
    rejects("page[after]=", "page[after]");
    rejects("page[before]", "page[before]");
    let e = err("page[before]=a&page[after]=b");
    assert_eq!(
        (e.parameter.as_str(), e.kind),
        ("page[before]", QueryErrorKind::RangePaginationNotSupported)
    );
    assert_profile_error(&e, "range-pagination-not-supported");
}

#[test]
fn booleans() {
    assert!(ok("count=true").count);
    assert!(!ok("count=false").count);
    assert!(ok("provideAuthorizationMeta=true").authorization_meta);
    for (raw, parameter) in [
        ("count=1", "count"),
        ("count=", "count"),
        ("count=TRUE", "count"),
        ("provideAuthorizationMeta=yes", "provideAuthorizationMeta"),
        ("newFilterSyntax=on", "newFilterSyntax"),
    ] {
        rejects(raw, parameter);
    }
}

/// Each `(query, parameter)` is refused on `endpoint` at that parameter.
fn refused_on(endpoint: Endpoint, cases: &[(&str, &str)]) {
    for (raw, parameter) in cases {
        let refused = parse_on::<P>(raw, endpoint).map_err(|e| e.parameter);
        assert_eq!(refused, Err(parameter.to_string()), "{raw}");
    }
}

#[test]
fn bare_endpoint_allows_nothing() {
    assert!(parse_on::<P>("", Endpoint::Bare).is_ok());
    refused_on(
        Endpoint::Bare,
        &[
            ("include=prospect", "include"),
            ("fields[phoneNumber]=number", "fields[phoneNumber]"),
            ("provideAuthorizationMeta=true", "provideAuthorizationMeta"),
            ("sort=id", "sort"),
        ],
    );
}

#[test]
fn single_endpoint_allows_only_include_fields_and_meta() {
    let raw = "include=prospect&fields[phoneNumber]=number&provideAuthorizationMeta=true";
    assert!(
        parse_on::<P>(raw, Endpoint::Single)
            .unwrap()
            .authorization_meta
    );
    refused_on(
        Endpoint::Single,
        &[
            ("sort=id", "sort"),
            ("page[size]=5", "page[size]"),
            ("page[after]=x", "page[after]"),
            ("filter[id]=1", "filter[id]"),
            ("count=false", "count"),
            ("newFilterSyntax=true", "newFilterSyntax"),
            ("foo=1", "foo"),
        ],
    );
}

#[test]
fn legacy_filter_values() {
    assert_eq!(
        op("filter[order]=3"),
        FilterOp::AnyOf(vec![FilterValue::Int(3)])
    );
    assert_eq!(
        op("filter[order]=-3"),
        FilterOp::AnyOf(vec![FilterValue::Int(-3)])
    );
    assert_eq!(
        op("filter[status]=valid,invalid,valid"),
        FilterOp::AnyOf(vec![s("valid"), s("invalid")])
    );
    assert_eq!(
        op("filter[order]=1..5"),
        FilterOp::Range {
            low: Some(FilterValue::Int(1)),
            high: Some(FilterValue::Int(5))
        }
    );
    assert_eq!(
        op("filter[createdAt]=neginf..2026-01-01T00:00:00Z"),
        FilterOp::Range {
            low: None,
            high: Some(t(2026, 1, 1, 0))
        }
    );
    assert_eq!(
        op("filter[updatedAt]=2026-01-01T02:00:00%2B02:00..inf"),
        FilterOp::Range {
            low: Some(t(2026, 1, 1, 0)),
            high: None
        }
    );
    assert_eq!(
        op("filter[order]=neginf..inf"),
        FilterOp::Range {
            low: None,
            high: None
        }
    );
    assert_eq!(op("filter[source]=__null__"), FilterOp::IsNull);
    assert_eq!(op("filter[status]=__notnull__"), FilterOp::IsNotNull);
    assert_eq!(
        op("filter[source]=web+form"),
        FilterOp::AnyOf(vec![s("web form")])
    );
    assert_eq!(op("filter[source]=a%2Bb"), FilterOp::AnyOf(vec![s("a+b")]));
    assert_eq!(op("filter[countryCode]=US"), FilterOp::AnyOf(vec![s("US")]));
}

#[test]
fn legacy_filter_errors() {
    for (raw, parameter) in [
        ("filter[status]=", "filter[status]"),
        ("filter[status]=a,,b", "filter[status]"),
        ("filter[status]=valid,,invalid", "filter[status]"),
        ("filter[status]=valid,", "filter[status]"),
        ("filter[status]=MOBILE", "filter[status]"),
        ("filter[phoneType]=MOBILE", "filter[phoneType]"),
        ("filter[source]=a..b", "filter[source]"),
        ("filter[status]=valid..valid", "filter[status]"),
        ("filter[number]=%2B1..%2B2", "filter[number]"),
        ("filter[order]=1..", "filter[order]"),
        ("filter[order]=..5", "filter[order]"),
        ("filter[order]=inf..5", "filter[order]"),
        ("filter[order]=1..neginf", "filter[order]"),
        ("filter[order]=1..3,5", "filter[order]"),
        ("filter[order]=x", "filter[order]"),
        ("filter[order]=1.5", "filter[order]"),
        ("filter[createdAt]=yesterday", "filter[createdAt]"),
        ("filter[createdAt]=2026-01-01", "filter[createdAt]"),
        ("filter[source]=a,__null__", "filter[source]"),
        ("filter[order]=__null__..5", "filter[order]"),
        ("filter[rawNumber]=1", "filter[rawNumber]"),
        ("filter[extension]=1", "filter[extension]"),
        ("filter[nope]=1", "filter[nope]"),
        ("filter[status][gte]=valid", "filter[status][gte]"),
        ("filter[order][gte]=1", "filter[order][gte]"),
        ("filter[order][]=1", "filter[order][]"),
        ("filter[status][foo]=valid", "filter[status][foo]"),
        ("filter[id][id]=1", "filter[id][id]"),
        ("filter[order][gte][x]=1", "filter[order][gte][x]"),
    ] {
        rejects(raw, parameter);
    }
}

#[test]
fn id_filters() {
    assert_eq!(
        only_filter("filter[id]=1,2"),
        Filter {
            target: FilterTarget::Field(P::Id),
            op: FilterOp::AnyOf(vec![FilterValue::Int(1), FilterValue::Int(2)])
        }
    );
    assert_eq!(
        only_filter("filter[prospect][id]=1,2"),
        Filter {
            target: FilterTarget::RelationshipId(R::PhoneNumberProspect),
            op: FilterOp::AnyOf(vec![FilterValue::Int(1), FilterValue::Int(2)])
        }
    );
    assert_eq!(
        op("filter[id]=1..9"),
        FilterOp::Range {
            low: Some(FilterValue::Int(1)),
            high: Some(FilterValue::Int(9))
        }
    );
    for raw in [
        "filter[id]=0",
        "filter[id]=-1",
        "filter[id]=abc",
        "filter[id]=",
        "filter[id]=99999999999999999999",
        "filter[id]=%2B1",
    ] {
        rejects(raw, "filter[id]");
    }
    rejects("filter[prospect]=1", "filter[prospect]");
    rejects("filter[prospect][name]=1", "filter[prospect][name]");
    rejects("filter[prospect][id]=x", "filter[prospect][id]");
    let on_prospects = |raw: &str| parse_on::<ProspectField>(raw, Endpoint::Collection);
    assert_eq!(
        on_prospects("filter[owner][id]=4").unwrap().filters[0].target,
        FilterTarget::RelationshipId(R::ProspectOwner)
    );
    assert_eq!(
        on_prospects("filter[phoneNumbers][id]=4")
            .unwrap_err()
            .parameter,
        "filter[phoneNumbers][id]"
    );
    assert_eq!(
        on_prospects("filter[homePhones]=x").unwrap_err().parameter,
        "filter[homePhones]"
    );
    assert_eq!(
        on_prospects("filter[firstName]=__null__").unwrap().filters[0].op,
        FilterOp::IsNull
    );
}

#[test]
fn phone_number_filters_are_normalised() {
    let plus = FilterOp::AnyOf(vec![s("+18889387356")]);
    for raw in [
        "filter[number]=+18889387356",
        "filter[number]=%2B18889387356",
        "filter[number]=(888)%20938-7356",
        "filter[number]=(888)+938-7356",
        "filter[number]=8889387356",
    ] {
        assert_eq!(op(raw), plus, "{raw}");
    }
    // A literal leading `+` is restored per list item; non-NANP numbers need it.
    assert_eq!(
        op("filter[number]=+49301234567,+18889387356"),
        FilterOp::AnyOf(vec![s("+49301234567"), s("+18889387356")])
    );
    // An encoded space is a space, not a plus.
    rejects("filter[number]=%2049301234567", "filter[number]");
    rejects("filter[number]=not-a-number", "filter[number]");
    rejects("filter[number]=", "filter[number]");
    assert_eq!(op("filter[number]=__null__"), FilterOp::IsNull);
}

#[test]
fn datetimes_accept_offsets_and_literal_plus() {
    let expected = FilterOp::AnyOf(vec![t(2026, 1, 1, 0)]);
    for raw in [
        "filter[createdAt]=2026-01-01T00:00:00Z",
        "filter[createdAt]=2026-01-01T00:00:00.000Z",
        "filter[createdAt]=2026-01-01T02:00:00+02:00",
        "filter[createdAt]=2026-01-01T02:00:00%2B02:00",
        "filter[createdAt]=2025-12-31T19:00:00-05:00",
    ] {
        assert_eq!(op(raw), expected, "{raw}");
    }
}

#[test]
fn new_filter_syntax() {
    let list = op("filter[source][]=a,b&filter[source][]=c..d&newFilterSyntax=true");
    assert_eq!(list, FilterOp::AnyOf(vec![s("a,b"), s("c..d")]));
    assert_eq!(
        op("newFilterSyntax=true&filter[source]=a,b"),
        FilterOp::AnyOf(vec![s("a,b")])
    );
    assert_eq!(
        op("newFilterSyntax=true&filter[source]=x..y"),
        FilterOp::AnyOf(vec![s("x..y")])
    );
    assert_eq!(
        op("newFilterSyntax=true&filter[source]=__null__"),
        FilterOp::IsNull
    );
    assert_eq!(
        op("newFilterSyntax=true&filter[source][]=__notnull__"),
        FilterOp::IsNotNull
    );
    assert_eq!(
        op("newFilterSyntax=true&filter[status][]=valid&filter[status][]=valid&filter[status][]=invalid"),
        FilterOp::AnyOf(vec![s("valid"), s("invalid")])
    );
    assert_eq!(
        op("newFilterSyntax=true&filter[prospect][id][]=1&filter[prospect][id][]=2"),
        FilterOp::AnyOf(vec![FilterValue::Int(1), FilterValue::Int(2)])
    );
    let q = ok("filter[createdAt][gte]=2026-01-01T00:00:00Z&filter[createdAt][lt]=2026-02-01T00:00:00Z&newFilterSyntax=true");
    assert_eq!(
        q.filters
            .iter()
            .map(|f| (f.target, f.op.clone()))
            .collect::<Vec<_>>(),
        vec![
            (
                FilterTarget::Field(P::CreatedAt),
                FilterOp::Compare(CompareOp::Gte, t(2026, 1, 1, 0))
            ),
            (
                FilterTarget::Field(P::CreatedAt),
                FilterOp::Compare(CompareOp::Lt, t(2026, 2, 1, 0))
            ),
        ]
    );
    assert_eq!(
        op("newFilterSyntax=true&filter[order][gt]=2"),
        FilterOp::Compare(CompareOp::Gt, FilterValue::Int(2))
    );
    assert_eq!(
        op("newFilterSyntax=true&filter[id][lte]=2"),
        FilterOp::Compare(CompareOp::Lte, FilterValue::Int(2))
    );
    assert_eq!(
        op("newFilterSyntax=false&filter[order]=1..2"),
        op("filter[order]=1..2")
    );
}

#[test]
fn new_filter_syntax_errors() {
    let nfs =
        |raw: &str, parameter: &str| rejects(&format!("newFilterSyntax=true&{raw}"), parameter);
    nfs("filter[source][gte]=a", "filter[source][gte]");
    nfs("filter[status][lt]=valid", "filter[status][lt]");
    nfs(
        "filter[order][gte]=1&filter[order][gte]=2",
        "filter[order][gte]",
    );
    nfs("filter[order][gte]=", "filter[order][gte]");
    nfs("filter[order][gte]=__null__", "filter[order][gte]");
    nfs("filter[order]=1..5", "filter[order]");
    nfs("filter[order]=1,2", "filter[order]");
    nfs("filter[order]=1&filter[order]=2", "filter[order]");
    nfs(
        "filter[status][]=valid&filter[status][]=",
        "filter[status][]",
    );
    nfs("filter[status][]=MOBILE", "filter[status][]");
    nfs(
        "filter[source][]=a&filter[source][]=__null__",
        "filter[source][]",
    );
    nfs("filter[order][between]=1", "filter[order][between]");
    nfs("filter[rawNumber][]=x", "filter[rawNumber][]");
}

#[test]
fn filters_on_different_fields_and_together() {
    let q =
        ok("filter[status]=valid&filter[phoneType]=mobile,work&filter[prospect][id]=3&count=true");
    assert_eq!(
        q.filters.iter().map(|f| f.target).collect::<Vec<_>>(),
        [
            FilterTarget::Field(P::Status),
            FilterTarget::Field(P::PhoneType),
            FilterTarget::RelationshipId(R::PhoneNumberProspect)
        ]
    );
    assert!(q.count);
}

#[test]
fn invalid_utf8_is_rejected() {
    rejects("filter[source]=%FF", "filter[source]");
    assert_eq!(err("%FF=1").kind, QueryErrorKind::Invalid);
}

#[test]
fn binding_is_canonical() {
    let b = |raw: &str| ok(raw).binding("phoneNumber", None);
    let base = b("sort=-order&filter[status]=valid,invalid&filter[order]=1..3");
    assert_eq!(
        base,
        b("filter[order]=1..3&filter[status]=invalid,valid,valid&sort=-order")
    );
    assert_eq!(base, b("sort=-order&filter[status]=valid,invalid&filter[order]=1..3&page[size]=7&count=true&include=prospect&fields[user]=name"));
    assert_ne!(
        base,
        b("sort=order&filter[status]=valid,invalid&filter[order]=1..3")
    );
    assert_ne!(
        base,
        b("sort=-order&filter[status]=valid&filter[order]=1..3")
    );
    assert_ne!(
        base,
        b("sort=-order&filter[status]=valid,invalid&filter[order]=1..4")
    );
    assert_ne!(
        base,
        ok("sort=-order&filter[status]=valid,invalid&filter[order]=1..3").binding("prospect", None)
    );
    let q = ok("");
    assert_ne!(
        q.binding("phoneNumber", Some(("prospect", 1))),
        q.binding("phoneNumber", Some(("prospect", 2)))
    );
    assert_ne!(b("filter[source]=1"), b("filter[order]=1"));
    assert_ne!(b("filter[order]=1"), b("filter[id]=1"));
    assert_ne!(
        b("filter[order]=1..inf"),
        b("newFilterSyntax=true&filter[order][gte]=1")
    );
}

#[test]
fn errors_display_and_profile_types() {
    let e = err("sort=nope");
    assert!(e.to_string().contains("`sort`"));
    assert!(e.detail.contains("`updatedAt`"), "{}", e.detail);
    assert_profile_error(&e, "unsupported-sort");
    assert_eq!(QueryErrorKind::Invalid.profile_error_type(), None);
}
