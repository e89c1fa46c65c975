//! The `hongying` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db::{self, Db};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "hongying",
    version,
    about = "红鹰 Hongying: party-branch life on phones"
)]
pub struct Cli {
    /// Configuration file (default: ./hongying.toml when it exists).
    #[arg(long, global = true, env = "HONGYING_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and list what is applied.
    Migrate,
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Print the OpenAPI document.
    Openapi,
}

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => {
            print!("{}", config.to_redacted_toml());
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::app::openapi_document().to_pretty_json()?);
            Ok(())
        }
        Command::Migrate => {
            telemetry::init_logging(&config.log);
            let db = Db::connect(&config.database)?;
            let mut conn = db.get().map_err(|e| anyhow::anyhow!("{e}"))?;
            let applied = db::migrate(&mut conn)?;
            println!("applied now: {}", applied.len());
            for v in db::applied_migrations(&mut conn)? {
                println!("  {v}");
            }
            Ok(())
        }
        Command::Serve => {
            telemetry::init_logging(&config.log);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                tracing::info!(config = ?config, "starting");
                let running = crate::app::start(config).await?;
                running.run_until_signal().await
            })
        }
    }
}
