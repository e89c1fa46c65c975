//! Fixtures that put accounts with roles straight into the database and mint their access
//! tokens with the server's own keys, so a test about organizations does not depend on
//! the login flow (which has tests of its own).

use diesel::prelude::*;
use hongying_server::auth::Role;
use hongying_server::crypto::pii::Field;
use hongying_server::db::schema::{accounts, refresh_tokens, role_grants};
use hongying_server::db::{new_id, write_tx};

use crate::TestApp;

/// A caller for tests: account id and a valid bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub token: String,
}

impl Caller {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

impl TestApp {
    /// Creates an active staff account holding `grants` (role, org id) and a live
    /// session, and returns a token for it. `member_id` links it to a member.
    pub async fn caller(&self, grants: &[(Role, Option<&str>)], member_id: Option<&str>) -> Caller {
        let state = self.state.clone();
        let grants: Vec<(Role, Option<String>)> = grants
            .iter()
            .map(|(r, o)| (*r, o.map(str::to_string)))
            .collect();
        let member_id = member_id.map(str::to_string);
        let (account_id, session_id) = tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().unwrap();
            let now = state.clock.now();
            let account_id = new_id();
            let session_id = new_id();
            let phone = format!("199{:08}", rand_digits());
            write_tx(&mut conn, |c| {
                diesel::insert_into(accounts::table)
                    .values((
                        accounts::id.eq(&account_id),
                        accounts::member_id.eq(&member_id),
                        accounts::display_name.eq("测试用户"),
                        accounts::phone_enc.eq(state.pii.encrypt(Field::Phone, &account_id, &phone).unwrap()),
                        accounts::phone_bidx.eq(state.pii.blind_index(Field::Phone, &phone)),
                        accounts::kind.eq(if member_id.is_some() { "member" } else { "staff" }),
                        accounts::status.eq("active"),
                        accounts::created_at.eq(now),
                        accounts::updated_at.eq(now),
                    ))
                    .execute(c)?;
                diesel::insert_into(refresh_tokens::table)
                    .values((
                        refresh_tokens::id.eq(new_id()),
                        refresh_tokens::account_id.eq(&account_id),
                        refresh_tokens::family_id.eq(&session_id),
                        refresh_tokens::token_hash.eq(new_id()),
                        refresh_tokens::device_id.eq("test-device"),
                        refresh_tokens::issued_at.eq(now),
                        refresh_tokens::expires_at.eq(now + chrono::Duration::days(30)),
                        refresh_tokens::created_at.eq(now),
                    ))
                    .execute(c)?;
                for (role, org) in &grants {
                    diesel::insert_into(role_grants::table)
                        .values((
                            role_grants::id.eq(new_id()),
                            role_grants::account_id.eq(&account_id),
                            role_grants::role.eq(role.as_str()),
                            role_grants::org_id.eq(org),
                            role_grants::granted_at.eq(now),
                        ))
                        .execute(c)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .unwrap();
            (account_id, session_id)
        })
        .await
        .unwrap();
        let now = self.state.clock.now().and_utc().timestamp();
        let token = self
            .state
            .tokens
            .issue_access(&account_id, &session_id, now)
            .unwrap();
        Caller { account_id, token }
    }

    /// A super administrator.
    pub async fn super_admin(&self) -> Caller {
        self.caller(&[(Role::SuperAdmin, None)], None).await
    }
}

fn rand_digits() -> u32 {
    (uuid::Uuid::new_v4().as_u128() % 100_000_000) as u32
}
