//! `hongying import members FILE --org CODE [--dry-run] [--partial]`.

use std::io::BufReader;
use std::path::Path;

use hongying_proto::members::ImportReport;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Format, Options, import_members};
use crate::auth::principal::RequestMeta;
use crate::config::Config;
use crate::crypto::pii::Pii;
use crate::db::{self, Db};
use crate::orgs::{Ctx, system_principal};
use crate::store::members as store;

/// Runs an import from the command line as the system (audited as `system`). Fails
/// (exit status 1) when the file is not valid.
pub fn run_members(
    config: &Config,
    file: &Path,
    org_code: &str,
    dry_run: bool,
    partial: bool,
) -> anyhow::Result<()> {
    let format = Format::from_path(file)
        .ok_or_else(|| anyhow::anyhow!("只能导入 .csv 或 .xlsx 文件：{}", file.display()))?;
    let handle = std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("无法打开 {}：{e}", file.display()))?;
    let db = Db::connect(&config.database)?;
    let mut conn = db.get().map_err(|e| anyhow::anyhow!("{e}"))?;
    if config.database.migrate_on_start {
        db::migrate(&mut conn)?;
    }
    let pii = Pii::load(&config.pii_keys_dir(), config.auth.generate_keys)?;
    let org = store::org_by_code(&mut conn, org_code)?
        .ok_or_else(|| anyhow::anyhow!("组织代码 {org_code} 不存在"))?;

    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} 已处理 {pos} 行（{elapsed}）")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let principal = system_principal();
    let meta = RequestMeta::default();
    // No sockets live in the command-line process: nothing to close.
    let sockets = crate::accounts::revocation::SocketsToClose::default();
    let ctx = Ctx {
        principal: &principal,
        meta: &meta,
        now: db::now(),
        sockets: &sockets,
    };
    let opts = Options {
        dry_run,
        partial,
        source_name: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let result = import_members(
        &mut conn,
        &ctx,
        &pii,
        &org.id,
        format,
        BufReader::new(handle),
        &opts,
        &mut |n| bar.set_position(n),
    );
    bar.finish_and_clear();
    let report = result.map_err(|e| anyhow::anyhow!("导入失败：{e}"))?;
    print!("{}", render(&report, &org.name));
    if report.valid {
        Ok(())
    } else {
        anyhow::bail!("导入文件有错误，未写入任何数据")
    }
}

/// The report as people read it in a terminal.
pub fn render(r: &ImportReport, org_name: &str) -> String {
    let mut out = String::new();
    let mode = match (r.dry_run, r.partial) {
        (true, _) => "（试运行，未写入）",
        (false, true) => "（部分导入）",
        _ => "",
    };
    out.push_str(&format!("导入到 {org_name}{mode}\n"));
    // Counts of a run that wrote nothing say what it would have done.
    let would = if r.committed { "" } else { "（若写入）" };
    out.push_str(&format!(
        "共 {} 行{would}：新增 {}，未变 {}，更新 {}，拒绝 {}\n",
        r.rows, r.created, r.unchanged, r.updated, r.rejected
    ));
    for i in &r.issues {
        if i.row == 0 {
            out.push_str(&format!("  文件：{} [{}]\n", i.message, i.code));
        } else {
            out.push_str(&format!(
                "  第 {} 行「{}」：{} [{}]\n",
                i.row, i.column, i.message, i.code
            ));
        }
    }
    if r.issues_truncated {
        out.push_str("  ……问题过多，只列出前 1000 条。\n");
    }
    out.push_str(if r.committed {
        "已写入。\n"
    } else {
        "未写入任何数据。\n"
    });
    out
}
