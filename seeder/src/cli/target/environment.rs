//! What a connection string's defaults come from besides the string: the
//! environment variables the database clients read, and the operating
//! system's user. Read once; tests build their own.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Environment variables and the OS user, as a connection string sees them.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    /// The name of the user this process runs as, as libpq and the MySQL
    /// clients default to it.
    pub os_user: Option<String>,
}

impl Environment {
    /// This process's: every `PG*` and `MYSQL*` variable, `HOME`, and the
    /// effective user's name from the user database.
    pub fn of_process() -> Environment {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("PG") || k.starts_with("MYSQL") || k == "HOME")
            .collect();
        Environment {
            vars,
            os_user: os_user(),
        }
    }

    /// A variable's value; unset and empty are alike (as in libpq).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The home directory, for `~/.pgpass` and `~/.postgresql/`.
    pub fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// For tests: an environment with exactly these variables.
    #[cfg(test)]
    pub fn with(vars: &[(&str, &str)], os_user: Option<&str>) -> Environment {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            os_user: os_user.map(str::to_owned),
        }
    }
}

/// The effective user's login name, from the user database (not `$USER`,
/// which `su` and `sudo` may leave pointing at someone else).
#[cfg(unix)]
fn os_user() -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut pwd = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes at most `buf.len()` bytes into `buf` and a
    // passwd whose strings point into it; `result` is null unless found.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            pwd.as_mut_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: `result` points to `pwd`, initialised by the call above, whose
    // pw_name is a NUL-terminated string inside `buf`, alive here.
    let name = unsafe { std::ffi::CStr::from_ptr((*result).pw_name) };
    name.to_str().ok().map(str::to_owned)
}

#[cfg(not(unix))]
fn os_user() -> Option<String> {
    std::env::var("USERNAME").ok()
}
