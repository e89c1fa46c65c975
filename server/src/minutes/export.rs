//! The printable record (会议记录本 page): one self-contained HTML document with inline CSS,
//! Chinese labels, times in China Standard Time. Every value from the database is escaped.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use hongying_proto::minutes::{MinutesRecord, Signature};
use hongying_proto::motions::{CandidateOutcome, Motion, MotionResult};

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `2026年11月28日 14:05` in China Standard Time (UTC+8).
fn when(t: DateTime<Utc>) -> String {
    (t + chrono::Duration::hours(8))
        .format("%Y年%m月%d日 %H:%M")
        .to_string()
}

fn hm(t: DateTime<Utc>) -> String {
    (t + chrono::Duration::hours(8)).format("%H:%M").to_string()
}

fn opt(s: Option<&str>) -> String {
    s.map(esc).unwrap_or_else(|| "—".into())
}

fn signature(s: Option<&Signature>) -> String {
    match s {
        Some(s) => format!("{}（{}）", esc(&s.name), when(s.signed_at)),
        None => "（未签字）".into(),
    }
}

fn outcome(m: &Motion, r: &MotionResult) -> String {
    if !r.quorate {
        return if r.rule == "election" {
            "到会人数未超过应到会人数的五分之四，选举无效".into()
        } else {
            "到会人数未过半数，表决无效".into()
        };
    }
    if r.rule != "election" {
        return if r.passed {
            "通过".into()
        } else {
            "未通过".into()
        };
    }
    let name = |id: &String| {
        m.candidates
            .iter()
            .find(|c| &c.id == id)
            .map(|c| esc(&c.name))
            .unwrap_or_default()
    };
    let mut s = String::new();
    if r.elected.is_empty() {
        s.push_str("无人当选");
    } else {
        s.push_str("当选：");
        s.push_str(&r.elected.iter().map(name).collect::<Vec<_>>().join("、"));
    }
    if !r.tied.is_empty() {
        let _ = write!(
            s,
            "；得票相等：{}（须就得票相等的候选人再次投票）",
            r.tied.iter().map(name).collect::<Vec<_>>().join("、")
        );
    }
    if let Some(n) = r.unfilled_seats.filter(|n| *n > 0) {
        let _ = write!(s, "；{n} 个名额未选出，须另行选举");
    }
    s
}

const STYLE: &str = "body{font-family:'SimSun','Songti SC','Noto Serif CJK SC',serif;margin:24px auto;max-width:820px;color:#000;font-size:14px;line-height:1.6}\
h1{text-align:center;font-size:22px;letter-spacing:4px;margin:0 0 4px}\
.org{text-align:center;margin-bottom:16px}\
h2{font-size:16px;border-left:4px solid #b00;padding-left:8px;margin:20px 0 8px}\
table{border-collapse:collapse;width:100%;margin:4px 0}\
th,td{border:1px solid #333;padding:4px 6px;text-align:left;vertical-align:top}\
th{background:#f3f3f3;white-space:nowrap}\
td.n{text-align:center}\
.sign{display:flex;justify-content:space-between;margin-top:32px}\
.muted{color:#555}\
@media screen and (max-width:600px){body{margin:8px;font-size:16px}table{display:block;overflow-x:auto}}\
@media print{body{margin:0}h2{break-after:avoid}table{break-inside:avoid}}";

/// The printable record.
pub fn html(r: &MinutesRecord) -> String {
    let h = &r.header;
    let a = &r.attendance;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} — 会议记录</title><style>{STYLE}</style></head><body>",
        title = esc(&h.title)
    );
    let _ = write!(
        o,
        "<h1>{kind}记录</h1><div class=\"org\">{org}</div>",
        kind = esc(&h.kind_label_zh),
        org = esc(&h.org_name)
    );

    // 基本情况
    let time = match (h.started_at, h.ended_at) {
        (Some(s), Some(e)) => format!("{}—{}", when(s), hm(e)),
        (Some(s), None) => format!("{} 起", when(s)),
        _ => format!(
            "{}—{}（计划）",
            when(h.scheduled_start),
            hm(h.scheduled_end)
        ),
    };
    let kind = match &h.held_as_label_zh {
        Some(x) => format!("{}（以{}形式召开）", esc(&h.kind_label_zh), esc(x)),
        None => esc(&h.kind_label_zh),
    };
    let _ = write!(
        o,
        "<h2>会议基本情况</h2><table>\
<tr><th>会议名称</th><td colspan=\"3\">{title}</td></tr>\
<tr><th>会议类型</th><td>{kind}</td><th>所属组织</th><td>{org}</td></tr>\
<tr><th>会议时间</th><td colspan=\"3\">{time}</td></tr>\
<tr><th>会议地点</th><td>{place}</td><th>会议形式</th><td>{mode}</td></tr>\
<tr><th>主持人</th><td>{host}</td><th>记录人</th><td>{recorder}</td></tr>",
        title = esc(&h.title),
        org = esc(&h.org_name),
        place = opt(h.place.as_deref()),
        mode = esc(&h.mode_label_zh),
        host = opt(h.host.as_ref().map(|p| p.name.as_str())),
        recorder = opt(h.recorder.as_ref().map(|p| p.name.as_str())),
    );
    if let Some(l) = &h.lecturer {
        let _ = write!(
            o,
            "<tr><th>授课人</th><td colspan=\"3\">{}</td></tr>",
            esc(l)
        );
    }
    o.push_str("</table>");

    // 出席情况
    let _ = write!(
        o,
        "<h2>出席情况</h2><table>\
<tr><th></th><th>党员总数</th><th>正式党员</th><th>预备党员</th><th>有表决权</th></tr>\
<tr><th>应到</th><td class=\"n\">{et}</td><td class=\"n\">{ef}</td><td class=\"n\">{ep}</td><td class=\"n\">{ev}</td></tr>\
<tr><th>实到</th><td class=\"n\">{pt}</td><td class=\"n\">{pf}</td><td class=\"n\">{pp}</td><td class=\"n\">{pv}</td></tr>\
</table><table>\
<tr><th>实到方式</th><th>现场</th><th>远程（视频）</th></tr>\
<tr><th>全体到会党员</th><td class=\"n\">{mi}</td><td class=\"n\">{mr}</td></tr>\
<tr><th>有表决权党员</th><td class=\"n\">{vi}</td><td class=\"n\">{vr}</td></tr></table>",
        et = a.expected.total,
        ef = a.expected.full,
        ep = a.expected.probationary,
        ev = a.expected_voting,
        pt = a.present.total,
        pf = a.present.full,
        pp = a.present.probationary,
        pv = a.present_voting,
        mi = a.present_by_mode.in_person,
        mr = a.present_by_mode.remote,
        vi = a.present_voting_by_mode.in_person,
        vr = a.present_voting_by_mode.remote,
    );
    o.push_str("<p class=\"muted\">有表决权的应到人数已扣除经批准不计入应到会人数的党员；到会即重新计入。</p>");
    if let Some(q) = &a.quorum_at_end {
        let _ = write!(
            o,
            "<p>会议结束时：应到会有表决权党员 {} 人，实到 {} 人，{}。</p>",
            q.expected,
            q.present_voting,
            if q.quorate {
                "超过半数"
            } else {
                "未超过半数"
            }
        );
    }

    o.push_str("<h2>缺席人员及原因</h2>");
    if a.absentees.is_empty() {
        o.push_str("<p>无</p>");
    } else {
        o.push_str("<table><tr><th>姓名</th><th>身份</th><th>缺席原因</th><th>备注</th></tr>");
        for x in &a.absentees {
            let reason = match (&x.reason_label_zh, x.excluded) {
                (Some(r), true) => format!("{}（不计入应到会）", esc(r)),
                (Some(r), false) => esc(r),
                (None, true) => "不计入应到会".into(),
                (None, false) => "未说明".into(),
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.name),
                esc(&x.status_label_zh),
                reason,
                opt(x.note.as_deref())
            );
        }
        o.push_str("</table>");
    }

    if !a.exclusions.is_empty() {
        o.push_str(
            "<h2>不计入应到会人数的党员</h2><table><tr><th>姓名</th><th>原因</th>\
<th>上级党组织同意</th><th>党员大会通过</th><th>是否生效</th></tr>",
        );
        for x in &a.exclusions {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.name),
                esc(&x.reason_label_zh),
                x.upper_approved_at.map(when).unwrap_or_else(|| "—".into()),
                x.congress_approved_at
                    .map(when)
                    .unwrap_or_else(|| "—".into()),
                if x.effective {
                    "是"
                } else if x.rejected_at.is_some() {
                    "否（已驳回）"
                } else {
                    "否"
                }
            );
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>列席人员</h2>");
    if a.observers.is_empty() {
        o.push_str("<p>无</p>");
    } else {
        let list: Vec<String> = a
            .observers
            .iter()
            .map(|x| format!("{}（{}）", esc(&x.name), esc(&x.kind_label_zh)))
            .collect();
        let _ = write!(o, "<p>{}</p>", list.join("、"));
    }

    if !a.written_opinions.is_empty() {
        o.push_str(
            "<h2>书面意见</h2><table><tr><th>议题</th><th>党员</th><th>意见</th><th>是否计票</th></tr>",
        );
        for w in &a.written_opinions {
            let counted = match w.counted {
                Some(true) => "计入",
                Some(false) => "不计入（本人到会或无表决权）",
                None => "待表决",
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&w.motion_title),
                esc(&w.name),
                esc(&w.choice_label_zh),
                counted
            );
        }
        o.push_str("</table>");
    }

    // 议程与发言
    o.push_str("<h2>会议议程</h2>");
    if h.agenda.is_empty() {
        o.push_str("<p>—</p>");
    } else {
        o.push_str("<ol>");
        for item in &h.agenda {
            let _ = write!(o, "<li>{}</li>", esc(&item.title));
        }
        o.push_str("</ol>");
    }
    o.push_str("<h2>发言要点</h2>");
    if r.points.is_empty() {
        o.push_str("<p>—</p>");
    } else {
        o.push_str("<table><tr><th>序号</th><th>发言人</th><th>议题</th><th>发言要点</th></tr>");
        for p in &r.points {
            let _ = write!(
                o,
                "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                p.seq,
                esc(&p.speaker_name),
                p.agenda_item
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "—".into()),
                esc(&p.text).replace('\n', "<br>")
            );
        }
        o.push_str("</table>");
    }
    if let Some(s) = &r.summary {
        let _ = write!(
            o,
            "<h2>会议纪要</h2><p>{}</p>",
            esc(s).replace('\n', "<br>")
        );
    }

    // 表决
    o.push_str("<h2>表决情况</h2>");
    if r.motions.is_empty() {
        o.push_str("<p>无</p>");
    } else {
        o.push_str(
            "<table><tr><th>议题</th><th>表决方式</th><th>应到</th><th>实到</th>\
<th>赞成</th><th>反对</th><th>弃权</th><th>书面意见计票</th><th>结果</th></tr>",
        );
        for m in &r.motions {
            let title = match &m.candidate_name {
                Some(n) => format!("{}（{}：{}）", esc(&m.title), esc(&m.kind_label_zh), esc(n)),
                None => esc(&m.title),
            };
            match &m.result {
                Some(res) if res.rule == "election" => {
                    let _ = write!(
                        o,
                        "<tr><td>{title}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td colspan=\"4\">有效选票 {} 张（应选 {} 名）</td><td>{}</td></tr>",
                        esc(&m.voting_method_label_zh),
                        res.expected,
                        res.present_voting,
                        res.valid_ballots.unwrap_or(0),
                        res.seats.unwrap_or(0),
                        outcome(m, res)
                    );
                    for c in &res.candidates {
                        let _ = write!(
                            o,
                            "<tr><td class=\"muted\">　候选人 {}</td><td></td><td></td><td></td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td></td><td>{}</td></tr>",
                            esc(&c.name),
                            c.yes,
                            c.no,
                            c.abstain,
                            match c.outcome {
                                CandidateOutcome::Elected => "当选",
                                CandidateOutcome::Tie => "得票相等",
                                CandidateOutcome::NotElected => "未当选",
                            }
                        );
                    }
                }
                Some(res) => {
                    let _ = write!(
                        o,
                        "<tr><td>{title}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                        esc(&m.voting_method_label_zh),
                        res.expected,
                        res.present_voting,
                        res.yes,
                        res.no,
                        res.abstain,
                        res.written.counted_yes
                            + res.written.counted_no
                            + res.written.counted_abstain,
                        outcome(m, res)
                    );
                }
                None => {
                    let _ = write!(
                        o,
                        "<tr><td>{title}</td><td>{}</td><td colspan=\"7\">{}</td></tr>",
                        esc(&m.voting_method_label_zh),
                        esc(&m.status_label_zh)
                    );
                }
            }
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>决议</h2>");
    if r.resolutions.is_empty() {
        o.push_str("<p>—</p>");
    } else {
        o.push_str("<ol>");
        for x in &r.resolutions {
            let _ = write!(o, "<li>{}</li>", esc(x));
        }
        o.push_str("</ol>");
    }

    if !r.attachments.is_empty() {
        o.push_str("<h2>附件</h2><ol>");
        for x in &r.attachments {
            let _ = write!(
                o,
                "<li>{}（{}，{} 字节）</li>",
                esc(&x.filename),
                esc(&x.content_type),
                x.size_bytes
            );
        }
        o.push_str("</ol>");
    }

    let _ = write!(
        o,
        "<div class=\"sign\"><div>主持人签字：{}</div><div>记录人签字：{}</div></div>",
        signature(r.sign_offs.host.as_ref()),
        signature(r.sign_offs.recorder.as_ref())
    );
    if let Some(at) = r.reviewed_at {
        let _ = write!(
            o,
            "<p class=\"muted\">上级党组织已于 {} 审阅{}</p>",
            when(at),
            r.review_comment
                .as_deref()
                .map(|c| format!("：{}", esc(c)))
                .unwrap_or_default()
        );
    }
    o.push_str("</body></html>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(esc("<script>\"&'"), "&lt;script&gt;&quot;&amp;&#39;");
    }
}
