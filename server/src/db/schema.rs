//! Table definitions shared by both backends. Only column types both support: ids and
//! enums as Text, UTC Timestamp, JSON as Text, bytes as Binary.

diesel::table! {
    idempotency_keys (principal, idem_key) {
        principal -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        state -> Text,
        status_code -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Binary>,
        created_at -> Timestamp,
        locked_until -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        kind -> Text,
        domain -> Text,
        parent_id -> Nullable<Text>,
        depth -> Integer,
        status -> Text,
        can_approve_members -> Bool,
        term_start -> Nullable<Date>,
        term_end -> Nullable<Date>,
        address -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    org_closure (ancestor_id, descendant_id) {
        ancestor_id -> Text,
        descendant_id -> Text,
        distance -> Integer,
    }
}

diesel::table! {
    members (id) {
        id -> Text,
        org_id -> Text,
        party_group_id -> Nullable<Text>,
        name -> Text,
        gender -> Text,
        birth_date -> Nullable<Date>,
        ethnicity -> Text,
        id_number_enc -> Text,
        id_number_bidx -> Text,
        phone_enc -> Nullable<Text>,
        phone_bidx -> Nullable<Text>,
        education -> Nullable<Text>,
        work_unit -> Nullable<Text>,
        status -> Text,
        applied_on -> Nullable<Date>,
        activist_on -> Nullable<Date>,
        candidate_on -> Nullable<Date>,
        probationary_on -> Nullable<Date>,
        probation_extended -> Bool,
        regularized_on -> Nullable<Date>,
        discipline_until -> Nullable<Date>,
        rights_suspended -> Bool,
        membership_stopped -> Bool,
        lost_contact -> Bool,
        removed_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    member_status_history (id) {
        id -> Text,
        member_id -> Text,
        change -> Text,
        from_value -> Nullable<Text>,
        to_value -> Text,
        effective_on -> Date,
        reason -> Nullable<Text>,
        actor_account_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    org_posts (id) {
        id -> Text,
        org_id -> Text,
        post -> Text,
        member_id -> Text,
        since -> Date,
        until -> Nullable<Date>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        member_id -> Nullable<Text>,
        display_name -> Text,
        phone_enc -> Text,
        phone_bidx -> Text,
        password_hash -> Nullable<Text>,
        kind -> Text,
        status -> Text,
        password_changed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    activation_codes (id) {
        id -> Text,
        account_id -> Text,
        code_hash -> Text,
        issued_by -> Nullable<Text>,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        account_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        device_id -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    role_grants (id) {
        id -> Text,
        account_id -> Text,
        role -> Text,
        org_id -> Nullable<Text>,
        granted_by -> Nullable<Text>,
        granted_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        id -> Text,
        actor_account_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        org_id -> Nullable<Text>,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        request_id -> Nullable<Text>,
        client_addr -> Nullable<Text>,
        created_at -> Timestamp,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::joinable!(org_closure -> organizations (descendant_id));
diesel::joinable!(members -> organizations (org_id));
diesel::joinable!(role_grants -> accounts (account_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    org_closure,
    members,
    member_status_history,
    org_posts,
    accounts,
    activation_codes,
    refresh_tokens,
    role_grants,
    audit_log,
    audit_head,
);
