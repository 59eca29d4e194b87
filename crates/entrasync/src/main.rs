//! The `entrasync` command line.

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// glibc's malloc gives each thread that allocates (tokio's workers, the blocking pool) an arena
/// of its own and raises its mmap threshold as large buffers are freed, so pages already
/// stored stay resident: a large tenant's first sync peaked at 149 MB RSS with 79 MB allocated.
/// Two arenas and a fixed threshold (large buffers mapped, and unmapped when freed) bring
/// that to 111 MB (into PostgreSQL 177 -> 136 MB; a small tenant 45 -> 40 MB), wall time
/// unchanged.
#[allow(unsafe_code)]
fn limit_heap_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[derive(Parser)]
#[command(
    name = "entrasync",
    // The commit comes from build.rs ("unknown" outside a git checkout).
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("ENTRASYNC_COMMIT"), ")"),
    about = "Sync a Microsoft Entra ID tenant from Microsoft Graph into SQLite, PostgreSQL or files",
    long_about = "Sync a Microsoft Entra ID tenant from Microsoft Graph into SQLite, PostgreSQL or files.\n\n\
        entrasync reads CloudQuery-style YAML (kind: source with path cloudquery/entraid, kind: destination \
        with path cloudquery/sqlite, cloudquery/postgresql or cloudquery/file) and writes the same tables \
        and columns as CloudQuery's entraid plugin.\n\n\
        Quick start without credentials: entrasync sync examples/quickstart.yml"
)]
struct Cli {
    /// Log level: trace, debug, info, warn or error.
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "ENTRASYNC_LOG_LEVEL"
    )]
    log_level: String,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Markdown,
    Html,
    Json,
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
enum TablesFormat {
    Markdown,
    Json,
    Names,
}

#[derive(Clone, Copy, ValueEnum)]
enum InitDestination {
    Sqlite,
    Postgresql,
    File,
}

#[derive(Clone, Copy, ValueEnum)]
enum InitFormat {
    Parquet,
    Json,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum InitCredential {
    Secret,
    Certificate,
}

#[derive(Clone, Copy, ValueEnum)]
enum InitCloud {
    Public,
    Usgov,
    UsgovDod,
    China,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented config for a real tenant and print how to set the tenant up: the `az`
    /// commands that create the app registration and its service principal, the
    /// least-privilege Microsoft Graph application permissions of the chosen tables, the
    /// licences they need and the admin-consent URL.
    ///
    /// Asks for what the flags do not say, unless --non-interactive (then the defaults apply:
    /// sqlite ./entraid.db, all tables, a client secret, entrasync.yml). Credentials are never
    /// written: the config reads them from AZURE_TENANT_ID, AZURE_CLIENT_ID and
    /// AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH). Then `entrasync test-connection`
    /// says what is still missing.
    Init {
        /// Where the tables go.
        #[arg(long, value_enum)]
        destination: Option<InitDestination>,
        /// Table names or globs, comma-separated (`entrasync tables` lists them); default all.
        #[arg(long, value_delimiter = ',')]
        tables: Option<Vec<String>>,
        /// SQLite file or PostgreSQL connection string (default ./entraid.db,
        /// ${PG_CONNECTION_STRING}); for files the path template (default
        /// ./entraid/{{TABLE}}/{{UUID}}.{{FORMAT}}).
        #[arg(long)]
        connection_string: Option<String>,
        /// File format, for --destination file.
        #[arg(long, value_enum)]
        format: Option<InitFormat>,
        /// Incremental syncs: Graph delta links kept in a table of the destination.
        #[arg(long)]
        incremental: bool,
        /// The app's credential: a client secret or a certificate.
        #[arg(long, value_enum)]
        credential: Option<InitCredential>,
        /// The config file to write.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite the config file if it exists.
        #[arg(long)]
        force: bool,
        /// Ask nothing: flags or defaults.
        #[arg(long)]
        non_interactive: bool,
        /// Display name of the app registration to create.
        #[arg(long, default_value = "entrasync")]
        app_name: String,
        /// An existing app registration's Application (client) ID: permissions are added to it
        /// instead of creating one; written into the config.
        #[arg(long)]
        client_id: Option<String>,
        /// The Directory (tenant) ID, written into the config and the admin-consent URL.
        #[arg(long)]
        tenant_id: Option<String>,
        #[arg(long, value_enum, default_value_t = InitCloud::Public)]
        cloud: InitCloud,
    },
    /// Sync the tenant(s) of the given config files into their destinations.
    ///
    /// Exit code 0 when every selected table synced; 1 when a table failed or a table named
    /// explicitly in `tables` could not be synced; tables matched only by a glob that lack a
    /// permission or licence are skipped with a warning and do not change the exit code.
    Sync {
        /// CloudQuery-style YAML config files; their documents are merged.
        #[arg(required = true)]
        config: Vec<PathBuf>,
        /// Plain log lines instead of progress bars, even on a terminal.
        #[arg(long)]
        no_progress: bool,
    },
    /// Check credentials and permissions: acquire a token, show the tenant and the application
    /// permissions the token carries, and say for every selected table whether it can be synced
    /// and, if not, which permission or licence is missing.
    ///
    /// Exit code 0 when a token was acquired, 1 when the credentials fail.
    TestConnection {
        #[arg(required = true)]
        config: Vec<PathBuf>,
    },
    /// Check the tenant's security posture from the synced tables (no Graph call): privileged
    /// roles, authentication, Conditional Access, applications, guests, authorization policy,
    /// risk, devices and hygiene. `entrasync check --list` shows the controls.
    ///
    /// Exit code 0 when no control of --fail-on severity or above failed, 1 when one did, 2 on
    /// an error. Controls whose tables were not synced are reported as not evaluated.
    Check {
        /// The config whose destination (SQLite or PostgreSQL) holds the synced tables.
        config: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = CheckFormat::Markdown)]
        format: CheckFormat,
        /// Write the report here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Lowest severity whose failure makes the exit code 1.
        #[arg(long, value_enum, default_value_t = entrasync::posture::Severity::High)]
        fail_on: entrasync::posture::Severity,
        /// The destination to read when the config has several.
        #[arg(long)]
        destination: Option<String>,
        /// Only these controls: ids or id prefixes (ES-PRIV) or families, comma-separated.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Findings shown per control in markdown and HTML (JSON and SARIF hold all).
        #[arg(long, default_value_t = 500)]
        max_rows: usize,
        /// Also report what changed since this time: privileged-role holders, app
        /// credentials, Conditional Access exclusions and high-privilege app permissions,
        /// added and (from the change log the sync keeps) removed (RFC 3339, a date, or days
        /// back such as 7d).
        #[arg(long)]
        since: Option<String>,
        /// List the controls and exit.
        #[arg(long)]
        list: bool,
        /// Write the controls' SQL as Markdown pages into this directory and exit.
        #[arg(long)]
        write_queries: Option<PathBuf>,
    },
    /// List the tables entrasync can sync (docs/tables.md is this command's markdown output).
    Tables {
        #[arg(long, value_enum, default_value_t = TablesFormat::Names)]
        format: TablesFormat,
    },
    /// Serve CloudQuery plugin protocol v3 over gRPC (what the CloudQuery CLI runs for
    /// `registry: local`): the entraid source, or entrasync's sinks as a destination when the
    /// Init spec has `connection_string`.
    Serve {
        /// `unix` (a socket path in --address) or `tcp`.
        #[arg(long, default_value = "tcp")]
        network: String,
        #[arg(long, default_value = "localhost:7777")]
        address: String,
        /// Accepted for the CLI; entrasync sends no error reports.
        #[arg(long)]
        no_sentry: bool,
        /// Accepted for the CLI; entrasync needs no licence.
        #[arg(long)]
        license: Option<String>,
        /// Where the source posts per-table metrics (OTLP/HTTP `host:port`), as `cloudquery
        /// sync --tables-metrics-location` passes it.
        #[arg(long)]
        otel_endpoint: Option<String>,
        /// A bare flag, as the CLI passes it.
        #[arg(long)]
        otel_endpoint_insecure: bool,
        /// Flags of newer CLIs are accepted and ignored.
        #[arg(hide = true, allow_hyphen_values = true, trailing_var_arg = true)]
        ignored: Vec<String>,
    },
    /// Write the CloudQuery plugin documentation (`<directory>/__tables.json`).
    Doc {
        directory: PathBuf,
        /// Only json: markdown docs are `entrasync tables --format markdown`.
        #[arg(long, default_value = "json")]
        format: String,
    },
    /// Write a CloudQuery plugin package: tables.json, spec_json_schema.json, package.json,
    /// docs/*.md and the zipped binary with its checksum.
    Package {
        /// Release message, or @file to read it from a file.
        #[arg(short = 'm', long)]
        message: String,
        /// Version, e.g. v1.4.1.
        version: String,
        /// Directory holding docs/ (the plugin's source directory).
        plugin_directory: PathBuf,
        #[arg(short = 'D', long, default_value = "dist")]
        dist_dir: PathBuf,
        #[arg(long)]
        docs_dir: Option<PathBuf>,
        #[arg(long, default_value = "cloudquery")]
        team: String,
        /// The binary to package (e.g. a release build); default: this entrasync.
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Print a shell completion script: `entrasync completions bash > /etc/bash_completion.d/entrasync`,
    /// `entrasync completions zsh > "${fpath[1]}/_entrasync"`,
    /// `entrasync completions fish > ~/.config/fish/completions/entrasync.fish`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema of a config document (kind: source or destination), for editors:
    /// `# yaml-language-server: $schema=entrasync.schema.json` at the top of the YAML.
    Schema,
}

fn main() -> ExitCode {
    limit_heap_retention();
    let cli = Cli::parse();
    if let Command::Serve { .. } = cli.command {
        // The CLI reads zerolog-style JSON lines from the plugin's stdout.
        entrasync::plugin::logging::init(&cli.log_level, matches!(cli.log_format, LogFormat::Json));
    } else {
        init_logging(&cli.log_level, cli.log_format);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init {
            destination,
            tables,
            connection_string,
            format,
            incremental,
            credential,
            output,
            force,
            non_interactive,
            app_name,
            client_id,
            tenant_id,
            cloud,
        } => {
            use entrasync::init;
            let mut answers = init::Answers {
                destination: destination.map(|d| match d {
                    InitDestination::Sqlite => init::Destination::Sqlite,
                    InitDestination::Postgresql => init::Destination::Postgresql,
                    InitDestination::File => init::Destination::File,
                }),
                tables: tables.map(|t| t.iter().flat_map(|t| init::split_list(t)).collect()),
                target: connection_string,
                format: format.map(|f| match f {
                    InitFormat::Parquet => init::FileFormat::Parquet,
                    InitFormat::Json => init::FileFormat::Json,
                    InitFormat::Csv => init::FileFormat::Csv,
                }),
                // A flag can only say yes; without it, ask.
                incremental: incremental.then_some(true),
                credential: credential.map(|c| match c {
                    InitCredential::Secret => init::Credential::Secret,
                    InitCredential::Certificate => init::Credential::Certificate,
                }),
                output,
            };
            if !non_interactive {
                answers = init::ask(
                    answers,
                    &mut std::io::stdin().lock(),
                    &mut std::io::stderr(),
                )?;
            }
            let settings = init::Settings {
                app_name,
                tenant_id,
                client_id,
                cloud: match cloud {
                    InitCloud::Public => entrasync::config::Cloud::Public,
                    InitCloud::Usgov => entrasync::config::Cloud::Usgov,
                    InitCloud::UsgovDod => entrasync::config::Cloud::UsgovDod,
                    InitCloud::China => entrasync::config::Cloud::China,
                },
                force,
            };
            let plan = init::Plan::new(answers, settings)?;
            print!("{}", init::write(&plan)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            config,
            no_progress,
        } => {
            let config = entrasync::config::load(&config)?;
            let result = entrasync::run_sync(&config, !no_progress).await?;
            if !result.failed_tenants.is_empty() {
                eprintln!(
                    "error: {} tenant(s) failed and {} table(s) failed or could not be synced; \
                     see the summary above",
                    result.failed_tenants.len(),
                    result.errors - result.failed_tenants.len()
                );
                return Ok(ExitCode::from(1));
            }
            if result.errors > 0 {
                eprintln!(
                    "error: {} table(s) failed or could not be synced; see the summary above",
                    result.errors
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::TestConnection { config } => {
            let config = entrasync::config::load(&config)?;
            let mut failed = false;
            for source in &config.sources {
                match entrasync::check::test_connection(source).await {
                    Ok(report) => print!("{}", report.render()),
                    Err(e) => {
                        eprintln!("error: source {:?}: {e:#}", source.name);
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Check {
            config,
            format,
            output,
            fail_on,
            destination,
            only,
            max_rows,
            since,
            list,
            write_queries,
        } => {
            use entrasync::posture;
            if list {
                for c in posture::controls::CONTROLS {
                    println!("{}\t{}\t{}", c.id, c.severity.as_str(), c.title);
                }
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(dir) = write_queries {
                std::fs::create_dir_all(&dir)?;
                for (name, text) in posture::report::query_pack() {
                    std::fs::write(dir.join(name), text)?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            if config.is_empty() {
                anyhow::bail!("entrasync check needs a config file");
            }
            let config = entrasync::config::load(&config)?;
            let (db, target) = posture::open(&config, destination.as_deref()).await?;
            let report = posture::run(&db, &target, &posture::Options { only, since }).await?;
            let text = match format {
                CheckFormat::Markdown => posture::report::markdown(&report, max_rows),
                CheckFormat::Html => posture::report::html(&report, max_rows),
                CheckFormat::Json => {
                    serde_json::to_string_pretty(&posture::report::json(&report))? + "\n"
                }
                CheckFormat::Sarif => {
                    serde_json::to_string_pretty(&posture::report::sarif(&report))? + "\n"
                }
            };
            match output {
                Some(path) => std::fs::write(&path, text)?,
                None => print!("{text}"),
            }
            eprintln!(
                "{} controls{} in {} ms: {} failed, {} passed, {} not evaluated, {} errors",
                report.outcomes.len(),
                match report.tenants.len() {
                    0 | 1 => String::new(),
                    n => format!(" over {n} tenants"),
                },
                report.millis,
                report.count(posture::Status::Fail, None),
                report.count(posture::Status::Pass, None),
                report.count(posture::Status::NotEvaluated, None),
                report.count(posture::Status::Error, None)
            );
            Ok(if report.fails_at(fail_on) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Tables { format } => {
            let tables = entrasync::tables::all();
            match format {
                TablesFormat::Names => {
                    for t in tables {
                        println!("{}", t.name);
                    }
                }
                TablesFormat::Markdown => print!("{}", entrasync::tables::docs::markdown(&tables)),
                TablesFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&entrasync::tables::docs::json(&tables))?
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            network,
            address,
            otel_endpoint,
            otel_endpoint_insecure,
            ..
        } => {
            entrasync::plugin::serve(entrasync::plugin::ServeOptions {
                network,
                address,
                otel_endpoint,
                otel_endpoint_insecure,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doc { directory, format } => {
            if format != "json" {
                anyhow::bail!(
                    "--format {format}: only json; for markdown use `entrasync tables --format markdown`"
                );
            }
            let path = entrasync::plugin::docs::write_doc(&directory)?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Package {
            message,
            version,
            plugin_directory,
            dist_dir,
            docs_dir,
            team,
            binary,
        } => {
            let written =
                entrasync::plugin::docs::write_package(&entrasync::plugin::docs::PackageOptions {
                    message,
                    version,
                    plugin_directory,
                    dist_dir,
                    docs_dir,
                    team,
                    binary,
                })?;
            for path in written {
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut cli = Cli::command();
            clap_complete::generate(shell, &mut cli, "entrasync", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            let schema = entrasync::plugin::docs::config_schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // `level` may also name targets: `info,entrasync::sync=debug`.
    let filter: Targets = format!("{level},hyper=warn,reqwest=warn,h2=warn")
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    // The builder's own filter stays open (its default is INFO): `filter` decides.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => builder.finish().with(filter).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(filter)
            .init(),
    }
}
