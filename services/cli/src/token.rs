//! `tenantry token keygen|mint`: service-token keys and tokens for the
//! context API's key-set mode, for tests and operators. Production issuers
//! keep their private keys in their own secret store; the API only ever
//! sees the public JWK set.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use tenantry_context_api::auth::{Algorithm, DEFAULT_AUDIENCE, MintRequest, SigningKey, signing};

/// `tenantry token` arguments.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// `tenantry token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Generate a key pair: the private key as PKCS#8 PEM
    /// (`<out-dir>/<kid>.pem`, `/` in the kid written as `_`, mode 0600) and
    /// its public JWK added to `<out-dir>/jwks.json` (created, or a key of
    /// the same kid replaced), the file `--api-jwks-file` reads.
    ///
    /// With --json: `{"kid", "private_key", "jwks"}` (paths).
    Keygen {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: KeygenArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        output: crate::output::JsonArgs,
    },
    /// Print a service token signed with a local private key.
    ///
    /// With --json: `{"token"}`.
    Mint {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: MintArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        output: crate::output::JsonArgs,
    },
}

/// `tenantry token keygen` arguments.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// `EdDSA` (Ed25519) or `ES256` (P-256).
    #[arg(long, default_value = "EdDSA", value_parser = crate::settings::parse_algorithm)]
    pub alg: Algorithm,
    /// Key id; with the default `--api-jwt-kid-binding asap` it must start
    /// with the issuer and a slash (`edge-1/2026-01`).
    #[arg(long)]
    pub kid: String,
    /// Directory of the private key and `jwks.json` (created if missing).
    #[arg(long)]
    pub out_dir: PathBuf,
}

/// `tenantry token mint` arguments.
#[derive(Debug, Args)]
pub struct MintArgs {
    /// Private key file: PKCS#8 PEM (Ed25519 or P-256), `EC PRIVATE KEY`,
    /// `RSA PRIVATE KEY` (PKCS#1, RS256), or a private JWK.
    #[arg(long, required_unless_present = "hs256", conflicts_with = "hs256")]
    pub key: Option<PathBuf>,
    /// Sign with HS256 and the shared secret in the environment variable
    /// `TENANTRY_API_JWT_SECRET` (the API's `--api-jwt-secret` mode; read
    /// from the environment so the secret is not on the command line). The
    /// issuer must be the API's `--api-jwt-issuer` (`tenantry`).
    #[arg(long)]
    pub hs256: bool,
    /// Key id for the header (default: the JWK's `kid`; required for PEM).
    #[arg(long)]
    pub kid: Option<String>,
    /// `iss`: the calling service, as named on the API's allow-list.
    #[arg(long)]
    pub issuer: String,
    /// `aud`: the API's audience (the context API's by default;
    /// `tenantry-admin` for `tenantry admin`, its --admin-jwt-audience).
    #[arg(long, default_value = DEFAULT_AUDIENCE)]
    pub audience: String,
    /// `tenants`: comma-separated tenant ids, or `*` for every tenant.
    #[arg(long, value_delimiter = ',', required = true)]
    pub tenants: Vec<String>,
    /// Lifetime, seconds (`exp = iat + ttl`; the API accepts at most
    /// `--api-jwt-max-lifetime-secs`, one hour by default).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl_secs: u64,
    /// `sub`, optional.
    #[arg(long)]
    pub subject: Option<String>,
}

/// Runs a `tenantry token` subcommand; prints what it made on stdout.
///
/// # Errors
/// A key that cannot be read, made or written.
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    match args.command {
        TokenCommand::Keygen { args, output } => {
            let (private, jwks) = keygen(&args)?;
            if output.json {
                return crate::output::print(&crate::output::KeygenRow {
                    kid: args.kid,
                    private_key: private.display().to_string(),
                    jwks: jwks.display().to_string(),
                });
            }
            println!("private key: {}", private.display());
            println!("key set:     {}", jwks.display());
            Ok(())
        }
        TokenCommand::Mint { args, output } => {
            let token = mint(&args)?;
            let limit = tenantry_context_api::auth::DEFAULT_MAX_LIFETIME_SECS;
            if args.ttl_secs > limit {
                // Still minted: an API may run with a longer limit.
                tracing::warn!(
                    "--ttl-secs {} is over {limit} s: a context API or admin with the default \
                     --api-jwt-max-lifetime-secs refuses this token",
                    args.ttl_secs
                );
            }
            if output.json {
                return crate::output::print(&crate::output::TokenRow { token });
            }
            println!("{token}");
            Ok(())
        }
    }
}

/// `tenantry token keygen`: the paths of the private key and the key set.
///
/// # Errors
/// The algorithm is not EdDSA or ES256, the private key file exists, or a
/// file cannot be written.
pub fn keygen(args: &KeygenArgs) -> anyhow::Result<(PathBuf, PathBuf)> {
    if args.kid.trim().is_empty() {
        anyhow::bail!("kid: must not be empty");
    }
    let generated = SigningKey::generate(args.alg, &args.kid)?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("out_dir: cannot create {}", args.out_dir.display()))?;
    let private = args
        .out_dir
        .join(format!("{}.pem", args.kid.replace(['/', '\\'], "_")));
    write_private(&private, &generated.private_pem)?;
    let jwks = args.out_dir.join("jwks.json");
    let existing = match std::fs::read_to_string(&jwks) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", jwks.display())),
    };
    let set = signing::add_to_key_set(existing.as_deref(), generated.key.public_jwk())?;
    std::fs::write(&jwks, set).with_context(|| format!("cannot write {}", jwks.display()))?;
    Ok((private, jwks))
}

/// `tenantry token mint`: the token.
///
/// # Errors
/// The key cannot be read or has no kid.
pub fn mint(args: &MintArgs) -> anyhow::Result<String> {
    let key = match &args.key {
        Some(path) => SigningKey::from_file(path, args.kid.clone())?,
        None => {
            let secret = std::env::var("TENANTRY_API_JWT_SECRET").map_err(|_| {
                anyhow::anyhow!("--hs256: set the shared secret in TENANTRY_API_JWT_SECRET")
            })?;
            SigningKey::shared_secret(secret.as_bytes())
                .map_err(|e| anyhow::anyhow!("--hs256 (TENANTRY_API_JWT_SECRET): {e}"))?
        }
    };
    let issued_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let token = key.mint(&MintRequest {
        issuer: args.issuer.clone(),
        audience: args.audience.clone(),
        subject: args.subject.clone(),
        tenants: args.tenants.clone(),
        issued_at,
        ttl_secs: args.ttl_secs,
    })?;
    Ok(token)
}

/// Creates `path` readable by its owner only; never overwrites a key.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create {} (a key is never overwritten)",
            path.display()
        )
    })?;
    file.write_all(pem.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
