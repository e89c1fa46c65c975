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
                        accounts::phone_enc.eq(state
                            .pii
                            .encrypt(Field::Phone, &account_id, &phone)
                            .unwrap()),
                        accounts::phone_bidx.eq(state.pii.blind_index(Field::Phone, &phone)),
                        accounts::kind.eq(if member_id.is_some() {
                            "member"
                        } else {
                            "staff"
                        }),
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

    /// Gives an account a known phone and password, as an activation would, so a test
    /// can log in (and hold a refresh token) like a phone does.
    pub async fn set_password(&self, account_id: &str, phone: &str, password: &str) {
        let state = self.state.clone();
        let (id, phone, password) = (
            account_id.to_string(),
            phone.to_string(),
            password.to_string(),
        );
        tokio::task::spawn_blocking(move || {
            let hash = hongying_server::auth::password::hash(&password).unwrap();
            let mut c = state.db.get().unwrap();
            diesel::update(accounts::table.find(&id))
                .set((
                    accounts::phone_enc.eq(state.pii.encrypt(Field::Phone, &id, &phone).unwrap()),
                    accounts::phone_bidx.eq(state.pii.blind_index(Field::Phone, &phone)),
                    accounts::password_hash.eq(hash),
                ))
                .execute(&mut c)
                .unwrap();
        })
        .await
        .unwrap();
    }
}

fn rand_digits() -> u32 {
    (uuid::Uuid::new_v4().as_u128() % 100_000_000) as u32
}

// --- Organization tree fixtures ---------------------------------------------------------

/// A small city tree for scope tests (all 党组织 of one 市委):
///
/// ```text
/// city 市委
/// ├── county_a 县委
/// │   ├── town_a1 镇党委 ── branch_a1a (── group_a1a 党小组), branch_a1b, branch_a1c
/// │   └── town_a2 镇党委 ── branch_a2a
/// └── county_b 县委
///     └── town_b1 镇党委 ── branch_b1a
/// ```
///
/// Each branch has one full member (`member_<branch>`); `member_group_a1a` belongs to
/// branch_a1a and sits in its party group.
#[derive(Debug, Clone)]
pub struct CityTree {
    pub city: String,
    pub county_a: String,
    pub county_b: String,
    pub town_a1: String,
    pub town_a2: String,
    pub town_b1: String,
    pub branch_a1a: String,
    pub branch_a1b: String,
    pub branch_a1c: String,
    pub branch_a2a: String,
    pub branch_b1a: String,
    pub group_a1a: String,
    pub member_a1a: String,
    pub member_a1b: String,
    pub member_a1c: String,
    pub member_a2a: String,
    pub member_b1a: String,
    pub member_group_a1a: String,
}

impl TestApp {
    /// Creates an organization through the org service, acting as the system (so the
    /// closure rows and the audit row are written as in production). Returns its id.
    pub async fn create_org(
        &self,
        parent: Option<&str>,
        kind: hongying_proto::orgs::OrgKind,
        domain: hongying_proto::orgs::OrgDomain,
        name: &str,
    ) -> String {
        let state = self.state.clone();
        let req = hongying_proto::orgs::CreateOrg {
            parent_id: parent.map(str::to_string),
            code: None,
            name: name.to_string(),
            kind,
            domain,
            can_approve_members: false,
            term_start: None,
            term_end: None,
            address: None,
            letter_abbr: None,
        };
        tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().unwrap();
            let principal = hongying_server::orgs::system_principal();
            let meta = hongying_server::auth::principal::RequestMeta::default();
            let sockets = Default::default();
            let ctx = hongying_server::orgs::Ctx {
                principal: &principal,
                meta: &meta,
                now: state.clock.now(),
                sockets: &sockets,
            };
            hongying_server::orgs::service::create(&mut conn, &ctx, req)
                .unwrap()
                .id
        })
        .await
        .unwrap()
    }

    /// Puts a full member straight into `org_id` (optionally in a party group) with a
    /// valid, unique ID number; returns the member id. For tests that need members but
    /// are not about them.
    pub async fn seed_member_row(
        &self,
        org_id: &str,
        party_group_id: Option<&str>,
        name: &str,
    ) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed) + rand_digits() % 1_000_000 * 1000;
        let birth = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap()
            + chrono::Duration::days(i64::from(n % 15_000));
        let first17 = format!("410402{}{:03}", birth.format("%Y%m%d"), (n / 15_000) % 1000);
        let id_number = format!(
            "{first17}{}",
            hongying_server::crypto::id_number::check_char(&first17).unwrap()
        );
        let state = self.state.clone();
        let (org_id, group, name) = (
            org_id.to_string(),
            party_group_id.map(str::to_string),
            name.to_string(),
        );
        tokio::task::spawn_blocking(move || {
            use hongying_server::db::schema::members as m;
            let mut conn = state.db.get().unwrap();
            let now = state.clock.now();
            let id = new_id();
            diesel::insert_into(m::table)
                .values((
                    m::id.eq(&id),
                    m::org_id.eq(&org_id),
                    m::party_group_id.eq(&group),
                    m::name.eq(&name),
                    m::gender.eq("male"),
                    m::birth_date.eq(Some(birth)),
                    m::id_number_enc
                        .eq(state.pii.encrypt(Field::IdNumber, &id, &id_number).unwrap()),
                    m::id_number_bidx.eq(state.pii.blind_index(Field::IdNumber, &id_number)),
                    m::status.eq("full"),
                    m::created_at.eq(now),
                    m::updated_at.eq(now),
                ))
                .execute(&mut conn)
                .unwrap();
            id
        })
        .await
        .unwrap()
    }

    /// Builds the [`CityTree`].
    pub async fn seed_city_tree(&self) -> CityTree {
        use hongying_proto::orgs::{OrgDomain as D, OrgKind as K};
        let city = self
            .create_org(None, K::PartyCommittee, D::Agency, "红鹰市委")
            .await;
        let county_a = self
            .create_org(Some(&city), K::PartyCommittee, D::Agency, "甲县县委")
            .await;
        let county_b = self
            .create_org(Some(&city), K::PartyCommittee, D::Agency, "乙县县委")
            .await;
        let town_a1 = self
            .create_org(Some(&county_a), K::PartyCommittee, D::Rural, "甲一镇党委")
            .await;
        let town_a2 = self
            .create_org(Some(&county_a), K::PartyCommittee, D::Rural, "甲二镇党委")
            .await;
        let town_b1 = self
            .create_org(Some(&county_b), K::PartyCommittee, D::Rural, "乙一镇党委")
            .await;
        let branch_a1a = self
            .create_org(Some(&town_a1), K::Branch, D::Rural, "东村党支部")
            .await;
        let branch_a1b = self
            .create_org(Some(&town_a1), K::Branch, D::Rural, "西村党支部")
            .await;
        let branch_a1c = self
            .create_org(Some(&town_a1), K::Branch, D::Rural, "南村党支部")
            .await;
        let branch_a2a = self
            .create_org(Some(&town_a2), K::Branch, D::Rural, "北村党支部")
            .await;
        let branch_b1a = self
            .create_org(Some(&town_b1), K::Branch, D::Rural, "中村党支部")
            .await;
        let group_a1a = self
            .create_org(Some(&branch_a1a), K::PartyGroup, D::Rural, "东村第一党小组")
            .await;
        let member_a1a = self.seed_member_row(&branch_a1a, None, "张东").await;
        let member_a1b = self.seed_member_row(&branch_a1b, None, "李西").await;
        let member_a1c = self.seed_member_row(&branch_a1c, None, "王南").await;
        let member_a2a = self.seed_member_row(&branch_a2a, None, "赵北").await;
        let member_b1a = self.seed_member_row(&branch_b1a, None, "钱中").await;
        let member_group_a1a = self
            .seed_member_row(&branch_a1a, Some(&group_a1a), "孙组")
            .await;
        CityTree {
            city,
            county_a,
            county_b,
            town_a1,
            town_a2,
            town_b1,
            branch_a1a,
            branch_a1b,
            branch_a1c,
            branch_a2a,
            branch_b1a,
            group_a1a,
            member_a1a,
            member_a1b,
            member_a1c,
            member_a2a,
            member_b1a,
            member_group_a1a,
        }
    }
}

// --- Accounts fixtures ------------------------------------------------------------------

/// A branch with one member, made by [`TestApp::seed_branch_member`].
#[derive(Debug, Clone)]
pub struct SeededMember {
    pub org_id: String,
    pub member_id: String,
    /// The member's pending account, when the member has a phone.
    pub account_id: Option<String>,
}

impl TestApp {
    /// Creates a new 党支部 (its own root, closure row included) and a full member in it
    /// with an encrypted ID number and, when `phone` is given, an encrypted phone and the
    /// pending account that `provision_member_account` makes for it, as the roster does.
    /// Self-contained: plain inserts, independent of the org and member services.
    pub async fn seed_branch_member(&self, name: &str, phone: Option<&str>) -> SeededMember {
        use hongying_server::db::schema::{members as m, org_closure as oc, organizations as o};
        let state = self.state.clone();
        let (name, phone) = (name.to_string(), phone.map(str::to_string));
        tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().unwrap();
            let now = state.clock.now();
            let (org_id, member_id) = (new_id(), new_id());
            let first17 = format!("11010119800101{:03}", rand_digits() % 1000);
            let id_number = format!(
                "{first17}{}",
                hongying_server::crypto::id_number::check_char(&first17).unwrap()
            );
            write_tx(&mut conn, |c| {
                diesel::insert_into(o::table)
                    .values((
                        o::id.eq(&org_id),
                        o::code.eq(format!("T{}", &org_id[..8]) + &org_id[24..]),
                        o::name.eq(format!("{name}所在党支部")),
                        o::kind.eq("branch"),
                        o::domain.eq("community"),
                        o::depth.eq(0),
                        o::created_at.eq(now),
                        o::updated_at.eq(now),
                    ))
                    .execute(c)?;
                diesel::insert_into(oc::table)
                    .values((
                        oc::ancestor_id.eq(&org_id),
                        oc::descendant_id.eq(&org_id),
                        oc::distance.eq(0),
                    ))
                    .execute(c)?;
                let phone_enc = phone
                    .as_ref()
                    .map(|p| state.pii.encrypt(Field::Phone, &member_id, p).unwrap());
                let phone_bidx = phone.as_ref().map(|p| {
                    state.pii.blind_index(
                        Field::Phone,
                        &hongying_server::crypto::pii::normalize_phone(p),
                    )
                });
                diesel::insert_into(m::table)
                    .values((
                        m::id.eq(&member_id),
                        m::org_id.eq(&org_id),
                        m::name.eq(&name),
                        m::gender.eq("female"),
                        m::id_number_enc.eq(state
                            .pii
                            .encrypt(Field::IdNumber, &member_id, &id_number)
                            .unwrap()),
                        m::id_number_bidx.eq(state.pii.blind_index(Field::IdNumber, &id_number)),
                        m::phone_enc.eq(phone_enc),
                        m::phone_bidx.eq(phone_bidx),
                        m::status.eq("full"),
                        m::created_at.eq(now),
                        m::updated_at.eq(now),
                    ))
                    .execute(c)?;
                let account_id = match &phone {
                    Some(p) => Some(
                        hongying_server::accounts::provision_member_account(
                            c, &state.pii, &member_id, &name, p, now,
                        )
                        .unwrap()
                        .account_id,
                    ),
                    None => None,
                };
                Ok::<_, diesel::result::Error>(SeededMember {
                    org_id: org_id.clone(),
                    member_id: member_id.clone(),
                    account_id,
                })
            })
            .unwrap()
        })
        .await
        .unwrap()
    }
}

impl TestApp {
    /// How many notices of `kind` the member has, read straight from the table.
    pub async fn count_notices(&self, member_id: &str, kind: &str) -> i64 {
        use hongying_server::db::schema::notices;
        let state = self.state.clone();
        let (id, kind) = (member_id.to_string(), kind.to_string());
        tokio::task::spawn_blocking(move || {
            let mut c = state.db.get().unwrap();
            notices::table
                .filter(notices::member_id.eq(&id))
                .filter(notices::kind.eq(&kind))
                .count()
                .get_result::<i64>(&mut c)
                .unwrap()
        })
        .await
        .unwrap()
    }
}
