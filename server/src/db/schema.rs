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
        letter_abbr -> Nullable<Text>,
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
        probation_extension_months -> Nullable<Integer>,
        note -> Nullable<Text>,
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
        expires_at -> Nullable<Timestamp>,
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

diesel::table! {
    meetings (id) {
        id -> Text,
        org_id -> Text,
        kind -> Text,
        held_as -> Nullable<Text>,
        title -> Text,
        agenda_json -> Text,
        scheduled_start -> Timestamp,
        scheduled_end -> Timestamp,
        place -> Nullable<Text>,
        mode -> Text,
        host_member_id -> Nullable<Text>,
        recorder_member_id -> Nullable<Text>,
        lecturer -> Nullable<Text>,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        thresholds_json -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    meeting_observers (id) {
        id -> Text,
        meeting_id -> Text,
        kind -> Text,
        name -> Text,
        member_id -> Nullable<Text>,
        account_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    meeting_roster (meeting_id, member_id) {
        meeting_id -> Text,
        member_id -> Text,
        name -> Text,
        quorum_status -> Text,
        is_committee -> Bool,
    }
}

diesel::table! {
    meeting_exclusions (id) {
        id -> Text,
        meeting_id -> Text,
        member_id -> Text,
        reason -> Text,
        note -> Nullable<Text>,
        upper_approved_by -> Nullable<Text>,
        upper_approved_at -> Nullable<Timestamp>,
        congress_approved_by -> Nullable<Text>,
        congress_approved_at -> Nullable<Timestamp>,
        rejected_by -> Nullable<Text>,
        rejected_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    attendance_intervals (id) {
        id -> Text,
        meeting_id -> Text,
        member_id -> Text,
        mode -> Text,
        source -> Text,
        media_proven -> Bool,
        opened_at -> Timestamp,
        last_seen_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        close_reason -> Nullable<Text>,
        recorded_by -> Nullable<Text>,
    }
}

diesel::table! {
    meeting_absences (meeting_id, member_id) {
        meeting_id -> Text,
        member_id -> Text,
        reason -> Text,
        note -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    motions (id) {
        id -> Text,
        meeting_id -> Text,
        kind -> Text,
        title -> Text,
        candidate_member_id -> Nullable<Text>,
        seats -> Nullable<Integer>,
        voting_method -> Text,
        status -> Text,
        opened_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        quorum_at_open_json -> Nullable<Text>,
        quorum_at_close_json -> Nullable<Text>,
        result_json -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    election_candidates (id) {
        id -> Text,
        motion_id -> Text,
        name -> Text,
        member_id -> Nullable<Text>,
        position -> Integer,
    }
}

diesel::table! {
    written_opinions (id) {
        id -> Text,
        motion_id -> Text,
        member_id -> Text,
        choice -> Text,
        registered_by -> Text,
        registered_at -> Timestamp,
    }
}

diesel::table! {
    ballots (id) {
        id -> Text,
        motion_id -> Text,
        member_id -> Text,
        choice -> Nullable<Text>,
        choices_json -> Nullable<Text>,
        channel -> Text,
        cast_at -> Timestamp,
    }
}

diesel::table! {
    motion_tallies (motion_id) {
        motion_id -> Text,
        yes -> Integer,
        no -> Integer,
        abstain -> Integer,
        entered_by -> Text,
        entered_at -> Timestamp,
    }
}

diesel::table! {
    minutes (meeting_id) {
        meeting_id -> Text,
        summary -> Nullable<Text>,
        resolutions_json -> Text,
        host_signed_by -> Nullable<Text>,
        host_signed_at -> Nullable<Timestamp>,
        recorder_signed_by -> Nullable<Text>,
        recorder_signed_at -> Nullable<Timestamp>,
        submitted_by -> Nullable<Text>,
        submitted_at -> Nullable<Timestamp>,
        reviewed_by -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
        review_comment -> Nullable<Text>,
        updated_at -> Timestamp,
        quorum_at_end_json -> Nullable<Text>,
    }
}

diesel::table! {
    minute_points (id) {
        id -> Text,
        meeting_id -> Text,
        seq -> Integer,
        speaker_member_id -> Nullable<Text>,
        speaker_name -> Text,
        agenda_item -> Nullable<Integer>,
        text -> Text,
        recorded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    attachments (id) {
        id -> Text,
        owner_type -> Text,
        owner_id -> Text,
        filename -> Text,
        content_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        storage_key -> Text,
        uploaded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notices (id) {
        id -> Text,
        member_id -> Text,
        kind -> Text,
        title -> Text,
        body -> Text,
        ref_type -> Nullable<Text>,
        ref_id -> Nullable<Text>,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notice_cursors (session_id) {
        session_id -> Text,
        account_id -> Text,
        cursor -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    compliance_rules (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        version -> Integer,
        rules_json -> Text,
        effective_from -> Date,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(org_closure -> organizations (descendant_id));
diesel::joinable!(meeting_roster -> meetings (meeting_id));
diesel::joinable!(attendance_intervals -> meetings (meeting_id));
diesel::joinable!(meetings -> organizations (org_id));
diesel::joinable!(members -> organizations (org_id));
diesel::joinable!(role_grants -> accounts (account_id));
diesel::joinable!(accounts -> members (member_id));

diesel::table! {
    transfers (id) {
        id -> Text,
        member_id -> Text,
        kind -> Text,
        from_org_id -> Nullable<Text>,
        from_committee_id -> Nullable<Text>,
        to_org_id -> Nullable<Text>,
        to_committee_id -> Nullable<Text>,
        to_branch_id -> Nullable<Text>,
        outside_org_name -> Nullable<Text>,
        outside_org_address -> Nullable<Text>,
        incoming_letter_serial -> Nullable<Text>,
        reason -> Text,
        planned_on -> Nullable<Date>,
        status -> Text,
        reject_reason -> Nullable<Text>,
        dues_paid_to -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        status_since -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    transfer_steps (id) {
        id -> Text,
        transfer_id -> Text,
        seq -> Integer,
        action -> Text,
        from_status -> Text,
        to_status -> Text,
        actor_account_id -> Text,
        actor_org_id -> Nullable<Text>,
        comment -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    transfer_letters (id) {
        id -> Text,
        transfer_id -> Text,
        issuing_org_id -> Text,
        serial_year -> Integer,
        serial_no -> Integer,
        member_name -> Text,
        gender -> Text,
        age -> Nullable<Integer>,
        ethnicity -> Text,
        membership -> Text,
        id_number_masked -> Text,
        member_phone_masked -> Nullable<Text>,
        from_org_name -> Text,
        to_org_name -> Text,
        dues_paid_to -> Nullable<Text>,
        validity_days -> Integer,
        issued_on -> Date,
        expires_on -> Date,
        status -> Text,
        reissued_from -> Nullable<Text>,
        receipt_returned_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        serial -> Nullable<Text>,
        issuing_org_name -> Nullable<Text>,
        void_reason -> Nullable<Text>,
        voided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    migrant_records (id) {
        id -> Text,
        member_id -> Text,
        direction -> Text,
        home_org_id -> Text,
        host_org_id -> Nullable<Text>,
        destination -> Text,
        work_unit -> Nullable<Text>,
        contact -> Nullable<Text>,
        since -> Date,
        card_number -> Nullable<Text>,
        last_contact_at -> Nullable<Timestamp>,
        ended_on -> Nullable<Date>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
        host_status -> Text,
        host_accepted_at -> Nullable<Timestamp>,
        host_accepted_by -> Nullable<Text>,
        lost_contact_reviewed_at -> Nullable<Timestamp>,
        lost_contact_reviewed_by -> Nullable<Text>,
        end_reason -> Nullable<Text>,
    }
}

diesel::table! {
    migrant_contacts (id) {
        id -> Text,
        record_id -> Text,
        contacted_at -> Timestamp,
        channel -> Text,
        note -> Nullable<Text>,
        recorded_by -> Text,
        created_at -> Timestamp,
    }
}

// --- 服务面对面 ---------------------------------------------------------------------------

diesel::table! {
    service_experts (id) {
        id -> Text,
        account_id -> Text,
        org_id -> Text,
        name -> Text,
        field -> Text,
        specialities_json -> Text,
        availability_json -> Text,
        status -> Text,
        verified_at -> Nullable<Timestamp>,
        verified_by -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    service_expert_areas (expert_id, org_id) {
        expert_id -> Text,
        org_id -> Text,
    }
}

diesel::table! {
    service_questions (id) {
        id -> Text,
        asker_account_id -> Text,
        category -> Text,
        text -> Text,
        area_org_id -> Text,
        urgency -> Text,
        status -> Text,
        assigned_expert_id -> Nullable<Text>,
        accepted_at -> Nullable<Timestamp>,
        first_answer_at -> Nullable<Timestamp>,
        last_activity_at -> Timestamp,
        escalated_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        close_reason -> Nullable<Text>,
        rating -> Nullable<Integer>,
        rating_comment -> Nullable<Text>,
        rated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    service_question_routes (question_id, expert_id) {
        question_id -> Text,
        expert_id -> Text,
        distance -> Integer,
        status -> Text,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    service_messages (id) {
        id -> Text,
        question_id -> Text,
        author_account_id -> Text,
        author_role -> Text,
        text -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    service_faqs (id) {
        id -> Text,
        question_id -> Text,
        area_org_id -> Text,
        category -> Text,
        question_text -> Text,
        answer_text -> Text,
        published_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    service_slots (id) {
        id -> Text,
        expert_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    service_consultations (id) {
        id -> Text,
        question_id -> Text,
        slot_id -> Text,
        expert_id -> Text,
        asker_account_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        status -> Text,
        started_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        duration_seconds -> Nullable<BigInt>,
        cancelled_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    account_notices (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        title -> Text,
        body -> Text,
        ref_type -> Nullable<Text>,
        ref_id -> Nullable<Text>,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

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
    meetings,
    meeting_observers,
    meeting_roster,
    meeting_exclusions,
    attendance_intervals,
    meeting_absences,
    motions,
    election_candidates,
    written_opinions,
    ballots,
    motion_tallies,
    minutes,
    minute_points,
    attachments,
    notices,
    notice_cursors,
    compliance_rules,
    transfers,
    transfer_steps,
    transfer_letters,
    migrant_records,
    service_experts,
    service_expert_areas,
    service_questions,
    service_question_routes,
    service_messages,
    service_faqs,
    service_slots,
    service_consultations,
    account_notices,
    migrant_contacts,
);
