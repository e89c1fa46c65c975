//! Loading the caller behind an access token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::auth::{Grant, Principal, Role};
use crate::db::AnyConnection;
use crate::db::schema::{accounts, members, refresh_tokens, role_grants};
use crate::error::AppError;

/// The principal for an account and session, or `None` when the account is not active,
/// the session family has been revoked (logout, reuse detection, a membership ended), or
/// the account's member is removed or has his membership stopped.
pub fn load(
    conn: &mut AnyConnection,
    account_id: &str,
    session_id: &str,
    now: NaiveDateTime,
) -> Result<Option<Principal>, AppError> {
    // One query for the account, its member's branch and whether the session lives: a
    // session is live while its family has a token that is neither revoked nor expired
    // (rotated ones stay unrevoked until reuse is detected).
    let live_session = diesel::dsl::exists(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(session_id))
            .filter(refresh_tokens::account_id.eq(account_id))
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now)),
    );
    type Found = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<bool>,
    );
    let found: Option<Found> = accounts::table
        .left_join(members::table)
        .filter(accounts::id.eq(account_id))
        .filter(accounts::status.eq("active"))
        .filter(live_session)
        .select((
            accounts::id,
            accounts::member_id,
            members::org_id.nullable(),
            members::status.nullable(),
            members::membership_stopped.nullable(),
        ))
        .first(conn)
        .optional()?;
    let Some((account_id, member_id, member_org_id, member_status, stopped)) = found else {
        return Ok(None);
    };
    // The roster is read on every request too: a member removed or stopped is nobody,
    // whatever his sessions (they are revoked with the change; this holds if one is not).
    if member_status.as_deref() == Some("removed") || stopped == Some(true) {
        return Ok(None);
    }
    // An expired grant stops here at its instant; the sweep stamps it revoked later.
    let grants = role_grants::table
        .filter(role_grants::account_id.eq(&account_id))
        .filter(role_grants::revoked_at.is_null())
        .filter(
            role_grants::expires_at
                .is_null()
                .or(role_grants::expires_at.gt(now)),
        )
        .select((role_grants::role, role_grants::org_id))
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .filter_map(|(role, org_id)| {
            Some(Grant {
                role: Role::parse(&role)?,
                org_id,
            })
        })
        // The member role follows the membership: a `member` grant left at a branch he
        // has moved away from reaches nothing.
        .filter(|g| g.role != Role::Member || member_id.is_none() || g.org_id == member_org_id)
        .collect();
    Ok(Some(Principal {
        account_id,
        session_id: session_id.to_string(),
        member_id,
        member_org_id,
        grants,
    }))
}
