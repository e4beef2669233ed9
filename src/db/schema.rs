//! Table definitions shared by both backends. Written by hand with portable SQL types only
//! (`BigInt`, `Integer`, `Text`, `Timestamp`, `Binary`), so one set of model code serves SQLite and PostgreSQL.

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        email -> Text,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        scopes -> Text,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    prospects (id) {
        id -> BigInt,
        owner_id -> BigInt,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        title -> Nullable<Text>,
        company -> Nullable<Text>,
        external_id -> Nullable<Text>,
        /// The prospect's numbers as it shows them, a JSON array of `[id, number, extension, phoneType]`
        /// arrays kept by every write of its numbers
        /// (see `models::prospect::PhoneList`).
        phones -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    phone_numbers (id) {
        id -> BigInt,
        prospect_id -> BigInt,
        number -> Text,
        raw_number -> Text,
        country_code -> Nullable<Text>,
        extension -> Text,
        phone_type -> Text,
        position -> Integer,
        status -> Text,
        status_changed_at -> Timestamp,
        source -> Nullable<Text>,
        formatted_number -> Text,
        line_type -> Text,
        sms_opt_out -> Bool,
        sms_opt_out_changed_at -> Nullable<Timestamp>,
        notes -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Secrets made once and shared by every instance (`models::server_key`).
    server_keys (name) {
        name -> Text,
        /// Hex of the key's bytes.
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Idempotency-Key claims and the answers they keep (`models::idempotency`).
    idempotency_keys (user_id, idempotency_key) {
        user_id -> BigInt,
        idempotency_key -> Text,
        fingerprint -> Text,
        claim -> Text,
        created_at -> Timestamp,
        status -> Nullable<Integer>,
        content_type -> Nullable<Text>,
        location -> Nullable<Text>,
        etag -> Nullable<Text>,
        body -> Nullable<Binary>,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(prospects -> users (owner_id));
diesel::joinable!(phone_numbers -> prospects (prospect_id));

diesel::allow_tables_to_appear_in_same_query!(users, api_tokens, prospects, phone_numbers);

diesel::table! {
    /// The change feed (`models::change`): `changed_fields`, `before_state` and `after_state` are
    /// JSON text, shown as they are stored.
    changes (id) {
        id -> BigInt,
        action -> Text,
        resource_type -> Text,
        resource_id -> BigInt,
        changed_fields -> Text,
        before_state -> Nullable<Text>,
        after_state -> Nullable<Text>,
        actor_id -> Nullable<BigInt>,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        resource_types -> Text,
        active -> Bool,
        secret -> Text,
        last_delivery_at -> Nullable<Timestamp>,
        last_delivery_status -> Nullable<Integer>,
        failed_deliveries -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        change_id -> BigInt,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        leased_until -> Nullable<Timestamp>,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_deliveries -> changes (change_id));
diesel::allow_tables_to_appear_in_same_query!(changes, webhooks, webhook_deliveries);
