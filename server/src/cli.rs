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
    /// Administration: accounts made outside the API.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Import data files.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Build a demo city (平顶山-like: organizations, ~2,000 people, demo logins).
    /// Does nothing when the demo city exists already.
    SeedDemo,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a roster (.xlsx or .csv, UTF-8 or GB18030) into an organization and the
    /// branches below it. Nothing is written unless every row is valid.
    Members {
        /// The roster file.
        file: PathBuf,
        /// Code of the organization to import into.
        #[arg(long)]
        org: String,
        /// Check and count only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write the valid rows even when others are invalid.
        #[arg(long)]
        partial: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an active staff account holding `super_admin`. The password is read from
    /// HONGYING_ADMIN_PASSWORD, or from standard input when that is unset.
    Create {
        /// Mobile number to log in with.
        #[arg(long)]
        phone: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
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
        Command::Admin {
            command: AdminCommand::Create { phone, name },
        } => {
            telemetry::init_logging(&config.log);
            crate::accounts::admin::run_create(&config, &phone, &name)
        }
        Command::Import {
            command:
                ImportCommand::Members {
                    file,
                    org,
                    dry_run,
                    partial,
                },
        } => {
            telemetry::init_logging(&config.log);
            crate::import::cli::run_members(&config, &file, &org, dry_run, partial)
        }
        Command::SeedDemo => {
            telemetry::init_logging(&config.log);
            crate::seed::run_cli(&config)
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
