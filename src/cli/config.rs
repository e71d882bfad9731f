//! `$HOME/.hoop/config.toml`: where the gateway is and the credential to use. The environment
//! (`HOOP_APIURL`, `HOOP_TOKEN`) overrides each value on its own, for secrets injected at run
//! time.

use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8009";

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    api_url: Option<String>,
    token: Option<String>,
    /// The managed key the token is: its id finds it after a rename, its name is what the
    /// expiry warning suggests rotating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<SavedKey>,
}

/// The managed key `hoop login` saved, as `/api/userinfo` named it then.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedKey {
    pub id: uuid::Uuid,
    pub name: String,
}

#[derive(Debug)]
pub struct Config {
    pub api_url: String,
    pub token: Option<SecretString>,
    /// The key `token` is, when the token is the saved one (a `HOOP_TOKEN` may be any other).
    pub key: Option<SavedKey>,
}

pub fn path() -> Result<PathBuf, String> {
    let home =
        std::env::var_os("HOME").ok_or("HOME is not set: cannot find ~/.hoop/config.toml")?;
    Ok(PathBuf::from(home).join(".hoop").join("config.toml"))
}

fn read(path: &Path) -> Result<File, String> {
    match fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn load() -> Result<Config, String> {
    let file = read(&path()?)?;
    let (token, key) = match env("HOOP_TOKEN") {
        Some(token) => (Some(token), None),
        None => (file.token, file.key),
    };
    Ok(Config {
        api_url: env("HOOP_APIURL")
            .or(file.api_url)
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
        token: token.map(SecretString::new),
        key,
    })
}

/// Writes the file readable by its owner only, from the first byte on (0600 in a 0700
/// directory), and atomically: a crash never leaves half a file.
pub fn save(api_url: &str, token: &SecretString, key: Option<SavedKey>) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let path = path()?;
    let dir = path.parent().ok_or("config path has no directory")?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))?;
    let text = toml::to_string(&File {
        api_url: Some(api_url.to_owned()),
        token: Some(token.expose().to_owned()),
        key,
    })
    .map_err(|e| format!("cannot write the config: {e}"))?;
    let tmp = dir.join(format!(".config.toml.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })?;
    Ok(path)
}
