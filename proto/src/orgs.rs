//! Organizations (党组织): the tree every role is held in, and committee posts.
//!
//! Enums travel as snake_case strings; responses also carry the Chinese label
//! (`kind_label_zh`, …) so clients need no table of their own.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// Kind of a party organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// 党委
    PartyCommittee,
    /// 党工委 (派出机构: 街道、园区)
    WorkCommittee,
    /// 党总支
    GeneralBranch,
    /// 党支部
    Branch,
    /// 联合党支部
    JointBranch,
    /// 临时党支部
    TemporaryBranch,
    /// 党小组 (only under a branch kind; never has children)
    PartyGroup,
}

impl OrgKind {
    pub const ALL: [OrgKind; 7] = [
        Self::PartyCommittee,
        Self::WorkCommittee,
        Self::GeneralBranch,
        Self::Branch,
        Self::JointBranch,
        Self::TemporaryBranch,
        Self::PartyGroup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartyCommittee => "party_committee",
            Self::WorkCommittee => "work_committee",
            Self::GeneralBranch => "general_branch",
            Self::Branch => "branch",
            Self::JointBranch => "joint_branch",
            Self::TemporaryBranch => "temporary_branch",
            Self::PartyGroup => "party_group",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::PartyCommittee => "党委",
            Self::WorkCommittee => "党工委",
            Self::GeneralBranch => "党总支",
            Self::Branch => "党支部",
            Self::JointBranch => "联合党支部",
            Self::TemporaryBranch => "临时党支部",
            Self::PartyGroup => "党小组",
        }
    }

    /// The 支部 kinds: the only parents a 党小组 may have.
    pub fn is_branch(self) -> bool {
        matches!(
            self,
            Self::Branch | Self::JointBranch | Self::TemporaryBranch
        )
    }
}

/// The sector (领域) an organization works in; decides e.g. the default term length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgDomain {
    /// 农村
    Rural,
    /// 城市社区
    Community,
    /// 机关
    Agency,
    /// 学校
    School,
    /// 国有企业
    StateEnterprise,
    /// 非公有制企业
    PrivateEnterprise,
    /// 社会组织
    SocialOrganization,
    /// 事业单位
    PublicInstitution,
}

impl OrgDomain {
    pub const ALL: [OrgDomain; 8] = [
        Self::Rural,
        Self::Community,
        Self::Agency,
        Self::School,
        Self::StateEnterprise,
        Self::PrivateEnterprise,
        Self::SocialOrganization,
        Self::PublicInstitution,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rural => "rural",
            Self::Community => "community",
            Self::Agency => "agency",
            Self::School => "school",
            Self::StateEnterprise => "state_enterprise",
            Self::PrivateEnterprise => "private_enterprise",
            Self::SocialOrganization => "social_organization",
            Self::PublicInstitution => "public_institution",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Rural => "农村",
            Self::Community => "城市社区",
            Self::Agency => "机关",
            Self::School => "学校",
            Self::StateEnterprise => "国有企业",
            Self::PrivateEnterprise => "非公有制企业",
            Self::SocialOrganization => "社会组织",
            Self::PublicInstitution => "事业单位",
        }
    }

    /// Term of a committee in years: 村、社区 5, others 3 (支部工作条例).
    pub fn default_term_years(self) -> u32 {
        match self {
            Self::Rural | Self::Community => 5,
            _ => 3,
        }
    }
}

/// Whether an organization still exists as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgStatus {
    /// 正常
    Normal,
    /// 已合并
    Merged,
    /// 已撤销
    Dissolved,
}

impl OrgStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Merged => "merged",
            Self::Dissolved => "dissolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Normal, Self::Merged, Self::Dissolved]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Normal => "正常",
            Self::Merged => "已合并",
            Self::Dissolved => "已撤销",
        }
    }
}

/// A committee post (委员会职务).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostKind {
    /// 书记
    Secretary,
    /// 副书记
    DeputySecretary,
    /// 组织委员
    OrganizationMember,
    /// 宣传委员
    PropagandaMember,
    /// 纪检委员
    DisciplineMember,
    /// 委员
    CommitteeMember,
    /// 党小组组长 (only in a 党小组)
    GroupLeader,
}

impl PostKind {
    pub const ALL: [PostKind; 7] = [
        Self::Secretary,
        Self::DeputySecretary,
        Self::OrganizationMember,
        Self::PropagandaMember,
        Self::DisciplineMember,
        Self::CommitteeMember,
        Self::GroupLeader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secretary => "secretary",
            Self::DeputySecretary => "deputy_secretary",
            Self::OrganizationMember => "organization_member",
            Self::PropagandaMember => "propaganda_member",
            Self::DisciplineMember => "discipline_member",
            Self::CommitteeMember => "committee_member",
            Self::GroupLeader => "group_leader",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Secretary => "书记",
            Self::DeputySecretary => "副书记",
            Self::OrganizationMember => "组织委员",
            Self::PropagandaMember => "宣传委员",
            Self::DisciplineMember => "纪检委员",
            Self::CommitteeMember => "委员",
            Self::GroupLeader => "党小组组长",
        }
    }

    /// Posts only one person holds at a time.
    pub fn is_single_holder(self) -> bool {
        matches!(self, Self::Secretary | Self::GroupLeader)
    }
}

/// `POST /api/v1/orgs`: a new organization under `parent_id` (a root, without a parent,
/// only for a super administrator).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// The organization it reports to; absent for a root (super administrators only).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// The organization code (组织代码), unique; generated when absent.
    #[serde(default)]
    #[validate(length(min = 1, max = 64, message = "组织代码长度须为 1 到 64 个字符。"))]
    pub code: Option<String>,
    #[validate(length(min = 1, max = 100, message = "名称长度须为 1 到 100 个字符。"))]
    pub name: String,
    pub kind: OrgKind,
    pub domain: OrgDomain,
    /// 具有审批预备党员权限 (only some 基层党委 have it).
    #[serde(default)]
    pub can_approve_members: bool,
    /// Start of the committee's term; `term_end` defaults to 5 years later for rural and
    /// community organizations, 3 years otherwise.
    #[serde(default)]
    pub term_start: Option<NaiveDate>,
    #[serde(default)]
    pub term_end: Option<NaiveDate>,
    #[serde(default)]
    #[validate(length(max = 200, message = "地址不能超过 200 个字符。"))]
    pub address: Option<String>,
    /// 发文简称: the one to four Chinese characters before 组字 in the serial of the letters
    /// this committee issues (堂 → 堂组字〔2026〕第0001号). Absent: the first character of the
    /// name after 中共 (中共堂街镇委员会 → 堂).
    #[serde(default)]
    #[validate(length(min = 1, max = 4, message = "发文简称须为 1 到 4 个汉字。"))]
    pub letter_abbr: Option<String>,
}

/// `PATCH /api/v1/orgs/{id}`: only the fields present change. The version read before
/// must be given, in `version` or as `If-Match`; a stale one answers 409
/// `version_conflict`. Branch secretaries and committee members may change only `name`
/// and `address`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    #[serde(default)]
    pub version: Option<i32>,
    #[serde(default)]
    #[validate(length(min = 1, max = 100, message = "名称长度须为 1 到 100 个字符。"))]
    pub name: Option<String>,
    /// `null` clears the address.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, nullable)]
    #[validate(length(max = 200, message = "地址不能超过 200 个字符。"))]
    pub address: Option<Option<String>>,
    #[serde(default)]
    pub status: Option<OrgStatus>,
    #[serde(default)]
    pub can_approve_members: Option<bool>,
    /// Setting `term_start` without `term_end` recomputes `term_end` by the domain's
    /// default term.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub term_start: Option<Option<NaiveDate>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub term_end: Option<Option<NaiveDate>>,
    #[serde(default)]
    pub domain: Option<OrgDomain>,
    /// 发文简称 (see `CreateOrg`); `null` goes back to the one derived from the name.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, nullable)]
    #[validate(length(min = 1, max = 4, message = "发文简称须为 1 到 4 个汉字。"))]
    pub letter_abbr: Option<Option<String>>,
}

impl UpdateOrg {
    /// Whether the patch touches anything beyond `name` and `address`.
    pub fn has_structural_fields(&self) -> bool {
        self.status.is_some()
            || self.can_approve_members.is_some()
            || self.term_start.is_some()
            || self.term_end.is_some()
            || self.domain.is_some()
            || self.letter_abbr.is_some()
    }
}

/// `POST /api/v1/orgs/{id}/move`: re-parent the organization with its whole subtree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct MoveOrg {
    /// The new parent.
    #[validate(length(min = 1, max = 64, message = "上级组织编号无效。"))]
    pub parent_id: String,
    /// The version of the moved organization read before (or `If-Match`).
    #[serde(default)]
    pub version: Option<i32>,
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Org {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: OrgKind,
    /// e.g. 党支部
    pub kind_label_zh: String,
    pub domain: OrgDomain,
    /// e.g. 农村
    pub domain_label_zh: String,
    pub parent_id: Option<String>,
    /// 0 for a root.
    pub depth: i32,
    pub status: OrgStatus,
    pub status_label_zh: String,
    pub can_approve_members: bool,
    pub term_start: Option<NaiveDate>,
    pub term_end: Option<NaiveDate>,
    pub address: Option<String>,
    /// 发文简称 in effect: the one set, or the one derived from the name.
    pub letter_abbr: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For optimistic concurrency: send it back on update (also the `ETag`).
    pub version: i32,
}

/// `GET /api/v1/orgs/{id}`: the organization with its current committee posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrgDetail {
    #[serde(flatten)]
    pub org: Org,
    /// Posts held now (not ended, or ending in the future).
    pub posts: Vec<OrgPost>,
}

/// One holder of one post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrgPost {
    pub id: String,
    pub org_id: String,
    pub post: PostKind,
    /// e.g. 书记
    pub post_label_zh: String,
    pub member_id: String,
    pub member_name: String,
    pub since: NaiveDate,
    pub until: Option<NaiveDate>,
}

/// `POST /api/v1/orgs/{id}/posts`: a member of the organization (or of one of its party
/// groups) takes a post.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AddPost {
    #[validate(length(min = 1, max = 64, message = "党员编号无效。"))]
    pub member_id: String,
    pub post: PostKind,
    /// Defaults to today.
    #[serde(default)]
    pub since: Option<NaiveDate>,
}

/// `POST /api/v1/orgs/{id}/posts/{post_id}/end`: the holder leaves the post.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct EndPost {
    /// Last day in post; defaults to today.
    #[serde(default)]
    pub until: Option<NaiveDate>,
}

/// `GET /api/v1/orgs/{id}/subtree`: search below an organization (itself excluded).
/// Ordered by depth, then creation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubtreeQuery {
    /// Part of the name.
    pub q: Option<String>,
    pub kind: Option<OrgKind>,
    pub domain: Option<OrgDomain>,
    pub status: Option<OrgStatus>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn enums_round_trip_their_wire_names() {
        for k in OrgKind::ALL {
            assert_eq!(OrgKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        for d in OrgDomain::ALL {
            assert_eq!(OrgDomain::parse(d.as_str()), Some(d));
        }
        for p in PostKind::ALL {
            assert_eq!(PostKind::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let p: UpdateOrg = serde_json::from_str(r#"{"address":null}"#).unwrap();
        assert_eq!(p.address, Some(None));
        let p: UpdateOrg = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(p.address, None);
        assert!(!p.has_structural_fields());
        let p: UpdateOrg = serde_json::from_str(r#"{"term_start":"2024-01-01"}"#).unwrap();
        assert!(p.has_structural_fields());
        assert!(serde_json::from_str::<UpdateOrg>(r#"{"kind":"branch"}"#).is_err());
        let long: UpdateOrg =
            serde_json::from_value(serde_json::json!({ "address": "址".repeat(201) })).unwrap();
        assert!(long.validate().is_err());
        let cleared: UpdateOrg = serde_json::from_str(r#"{"address":null}"#).unwrap();
        assert!(cleared.validate().is_ok());
    }
}
