//! The settings of file storage: limits, and S3 when files do not live on local disk.

use std::fmt;
use std::str::FromStr;

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct FileSettings {
    /// Largest file one upload may carry, in bytes (default 100 MiB).
    #[arg(long, env = "HALLPASS_MAX_UPLOAD_BYTES", default_value_t = 100 << 20,
          value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_upload_bytes: u64,

    /// Bytes of files one owner may keep (default 1 GiB).
    #[arg(long, env = "HALLPASS_USER_QUOTA_BYTES", default_value_t = 1 << 30,
          value_parser = clap::value_parser!(u64).range(0..), global = true)]
    pub user_quota_bytes: u64,

    /// S3 bucket for stored files; unset keeps them under `<data dir>/files`.
    #[arg(long, env = "HALLPASS_S3_BUCKET", global = true)]
    pub s3_bucket: Option<String>,

    /// Key prefix inside the bucket; deployments sharing a bucket need different ones
    /// (each sweeps away objects under its prefix that it has no record of).
    #[arg(long, env = "HALLPASS_S3_PREFIX", default_value = "", global = true)]
    pub s3_prefix: String,

    /// S3 endpoint URL for S3-compatible services (MinIO, R2…); unset is AWS.
    #[arg(long, env = "HALLPASS_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,

    /// S3 region.
    #[arg(long, env = "HALLPASS_S3_REGION", default_value = "us-east-1", global = true)]
    pub s3_region: String,

    /// S3 access key id; unset uses the environment's credentials (instance role…).
    #[arg(long, env = "HALLPASS_S3_ACCESS_KEY_ID", global = true)]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key.
    #[arg(long, env = "HALLPASS_S3_SECRET_ACCESS_KEY", hide_env_values = true, global = true)]
    pub s3_secret_access_key: Option<Secret>,

    /// Address buckets by path (`endpoint/bucket/key`), as most S3-compatible servers want.
    #[arg(long, env = "HALLPASS_S3_PATH_STYLE", default_value_t = false,
          action = clap::ArgAction::Set, global = true)]
    pub s3_path_style: bool,
}

/// A setting that must never be printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}
