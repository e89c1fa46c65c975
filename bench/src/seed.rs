//! Seeding for the signaling load: one branch per room under one town, its members with
//! member accounts and live sessions (one transaction per branch, through the server's own
//! PII keys), a secretary, and a congress created, scheduled and started over REST as the
//! secretary would. Tokens are minted with the server's keys, as the fixtures do.

use anyhow::{Context, Result, anyhow};
use diesel::prelude::*;
use hongying_proto::orgs::{OrgDomain, OrgKind};
use hongying_proto::signaling::{JOIN_AUDIENCE, JoinGrants};
use hongying_server::auth::Role;
use hongying_server::crypto::pii::Field;
use hongying_server::db::schema::{accounts, members, refresh_tokens, role_grants};
use hongying_server::db::{new_id, write_tx};
use hongying_server::signaling::join_token::JoinClaims;
use hongying_tests::TestApp;
use hongying_tests::reqwest::Method;
use hongying_tests::{call, json};

pub struct Tokens {
    pub room: usize,
    pub host: bool,
    pub access: String,
    pub join: String,
}

/// The n-th valid, unique ID number (same scheme as the test fixtures).
fn id_number(n: u32) -> Result<String> {
    let birth = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).context("date")?
        + chrono::Duration::days(i64::from(n % 15_000));
    let first17 = format!("410402{}{:03}", birth.format("%Y%m%d"), (n / 15_000) % 1000);
    let check = hongying_server::crypto::id_number::check_char(&first17)
        .ok_or_else(|| anyhow!("check char"))?;
    Ok(format!("{first17}{check}"))
}

pub async fn seed(app: &TestApp, rooms: usize, sessions: usize) -> Result<Vec<Tokens>> {
    let city = app
        .create_org(None, OrgKind::PartyCommittee, OrgDomain::Agency, "压测市委")
        .await;
    let town = app
        .create_org(
            Some(&city),
            OrgKind::PartyCommittee,
            OrgDomain::Rural,
            "压测镇党委",
        )
        .await;
    let now = app.state.clock.now();
    let iat = now.and_utc().timestamp();
    let exp = iat + 24 * 3600;
    let issuer = app.state.config.auth.issuer.clone();
    let mut out = Vec::with_capacity(sessions + rooms);
    let mut n: u32 = 0;
    for r in 0..rooms {
        let per = sessions / rooms + usize::from(r < sessions % rooms);
        let branch = app
            .create_org(
                Some(&town),
                OrgKind::Branch,
                OrgDomain::Rural,
                &format!("压测村党支部{r:04}"),
            )
            .await;
        let secretary = app
            .caller(&[(Role::BranchSecretary, Some(branch.as_str()))], None)
            .await;
        // The meeting, as the secretary does it.
        let m: serde_json::Value = call(
            app,
            &secretary,
            Method::POST,
            &format!("/api/v1/orgs/{branch}/meetings"),
            Some(json!({
                "kind": "congress",
                "title": format!("压测党员大会{r:04}"),
                "agenda": [{"title": "讨论村务"}],
                "scheduled_start": "2026-12-01T02:00:00Z",
                "scheduled_end": "2026-12-01T04:00:00Z",
                "place": "村委会议室",
                "mode": "hybrid"
            })),
        )
        .await
        .json()
        .await?;
        let meeting = m["id"].as_str().context("meeting id")?.to_string();

        // Members, accounts and sessions of this branch in one transaction.
        let state = app.state.clone();
        let (b, first) = (branch.clone(), n);
        let made: Vec<(String, String, String)> = tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().map_err(|e| anyhow!("{e}"))?;
            write_tx(&mut conn, |c| -> Result<Vec<(String, String, String)>> {
                let mut made = Vec::with_capacity(per);
                for i in 0..per {
                    let k = first + i as u32;
                    let (member_id, account_id, session_id) = (new_id(), new_id(), new_id());
                    let idn = id_number(k)?;
                    let phone = format!("170{k:08}");
                    diesel::insert_into(members::table)
                        .values((
                            members::id.eq(&member_id),
                            members::org_id.eq(&b),
                            members::name.eq(format!("压测党员{k}")),
                            members::gender.eq("male"),
                            members::id_number_enc.eq(state
                                .pii
                                .encrypt(Field::IdNumber, &member_id, &idn)
                                .map_err(|e| anyhow!("{e:?}"))?),
                            members::id_number_bidx
                                .eq(state.pii.blind_index(Field::IdNumber, &idn)),
                            members::status.eq("full"),
                            members::created_at.eq(now),
                            members::updated_at.eq(now),
                        ))
                        .execute(c)?;
                    diesel::insert_into(accounts::table)
                        .values((
                            accounts::id.eq(&account_id),
                            accounts::member_id.eq(Some(&member_id)),
                            accounts::display_name.eq(format!("压测党员{k}")),
                            accounts::phone_enc.eq(state
                                .pii
                                .encrypt(Field::Phone, &account_id, &phone)
                                .map_err(|e| anyhow!("{e:?}"))?),
                            accounts::phone_bidx.eq(state.pii.blind_index(Field::Phone, &phone)),
                            accounts::kind.eq("member"),
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
                            refresh_tokens::device_id.eq("bench"),
                            refresh_tokens::issued_at.eq(now),
                            refresh_tokens::expires_at.eq(now + chrono::Duration::days(30)),
                            refresh_tokens::created_at.eq(now),
                        ))
                        .execute(c)?;
                    diesel::insert_into(role_grants::table)
                        .values((
                            role_grants::id.eq(new_id()),
                            role_grants::account_id.eq(&account_id),
                            role_grants::role.eq(Role::Member.as_str()),
                            role_grants::org_id.eq(Some(&b)),
                            role_grants::granted_at.eq(now),
                        ))
                        .execute(c)?;
                    made.push((member_id, account_id, session_id));
                }
                Ok(made)
            })
        })
        .await??;
        n += per as u32;

        // Scheduled after the members exist (a congress may freeze its roster), then started.
        for step in ["schedule", "start"] {
            let resp = call(
                app,
                &secretary,
                Method::POST,
                &format!("/api/v1/meetings/{meeting}/{step}"),
                None,
            )
            .await;
            if !resp.status().is_success() {
                let body = resp.text().await.unwrap_or_default();
                return Err(anyhow!("{step} of meeting {r}: {body}"));
            }
        }

        let join = |sub: &str, sid: &str, mem: Option<String>, host: bool| -> Result<String> {
            let claims = JoinClaims {
                sub: sub.to_string(),
                sid: sid.to_string(),
                mid: meeting.clone(),
                mem,
                grants: JoinGrants {
                    publish: true,
                    subscribe: true,
                    host,
                },
                // As the server issues them: the names ride in the token.
                title: format!("压测党员大会{r:04}"),
                name: "压测党员".into(),
                iss: issuer.clone(),
                aud: JOIN_AUDIENCE.to_string(),
                iat,
                iat_ms: iat * 1000,
                exp,
                jti: uuid::Uuid::now_v7().to_string(),
            };
            app.state.tokens.sign(&claims).map_err(|e| anyhow!("{e:?}"))
        };
        // The secretary's session id is in his access token; ask the server for his join
        // token as a client would.
        let t: serde_json::Value = call(
            app,
            &secretary,
            Method::POST,
            &format!("/api/v1/meetings/{meeting}/join-token"),
            None,
        )
        .await
        .json()
        .await?;
        out.push(Tokens {
            room: r,
            host: true,
            access: secretary.token.clone(),
            join: t["token"].as_str().context("host join token")?.to_string(),
        });
        for (member_id, account_id, session_id) in made {
            let access = app
                .state
                .tokens
                .issue_access(&account_id, &session_id, iat)
                .map_err(|e| anyhow!("{e:?}"))?;
            out.push(Tokens {
                room: r,
                host: false,
                access,
                join: join(&account_id, &session_id, Some(member_id), false)?,
            });
        }
        if (r + 1) % 100 == 0 {
            eprintln!("seeded {} rooms", r + 1);
        }
    }
    Ok(out)
}
