//! The Lua programs of `lua/`, as Redis Functions where the server has them and as scripts
//! where it does not.
//!
//! A script (`EVALSHA`) runs its whole text on every call: the policy's constants are built and
//! every helper function is defined again before any rule does work. A Function library
//! (`FUNCTION LOAD`, Redis ≥ 7) runs that part once per load, and each `FCALL` runs only the
//! per-call body. The two forms come from the same text — `modules` (constants and helpers,
//! which never read `KEYS` or `ARGV`) and `body` (the per-call code) — so they cannot drift.
//! A server without functions (Redis 6, some Redis-compatible servers) answers `FCALL` with
//! "unknown command": the store then uses the scripts for good.
//!
//! A library that went missing (`FUNCTION FLUSH`, a restart) is loaded once however many calls
//! notice it at the same moment: see [`Program::load_once`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::{Cmd, RedisError, Script, ToRedisArgs};

pub(super) struct Program {
    /// The script form's text and its SHA1 (for `EVALSHA`).
    script: String,
    sha: String,
    /// The library's name and its one function's: `fg_<program>_<hash of the text>`, so a
    /// replica with another configuration (another prelude) loads and calls another library.
    function: String,
    library: String,
    /// Loads of the library this replica completed: a call that read it before its `FCALL`
    /// knows, on "function not found", whether a load has landed since.
    loads: AtomicU64,
    /// Held by the one call that is loading the library; the others wait on it.
    loading: tokio::sync::Mutex<()>,
}

impl Program {
    pub(super) fn new(name: &str, modules: &str, body: &str) -> Program {
        let script = format!("{modules}{body}");
        let sha = Script::new(&script).get_hash().to_string();
        let function = format!("fg_{name}_{}", &sha[..16]);
        let library = format!(
            "#!lua name={function}\n{modules}\n\
             redis.register_function('{function}', function(KEYS, ARGV)\n{body}\nend)\n"
        );
        Program {
            script,
            sha,
            function,
            library,
            loads: AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// How many loads have completed; read before an `FCALL`, passed to [`Program::load_once`].
    pub(super) fn loads(&self) -> u64 {
        self.loads.load(Ordering::Acquire)
    }

    /// Runs `load` (a [`Program::load`]) unless a load completed since the caller read
    /// [`Program::loads`] as `seen`. One load at a time: after a `FUNCTION FLUSH` or a restart
    /// every call in flight learns the library is missing at once, and each sending its own
    /// 44 KB `FUNCTION LOAD` (0.74 ms of Redis time each) used the whole budget and tripped the
    /// breaker. The others wait for the one — within their own budget, which the caller's
    /// timeout bounds — and then call again. A load that fails lets the next waiter try.
    pub(super) async fn load_once<F, Fut>(&self, seen: u64, load: F) -> Result<(), RedisError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<redis::Value, RedisError>>,
    {
        let _loading = self.loading.lock().await;
        if self.loads() != seen {
            return Ok(());
        }
        load().await?;
        self.loads.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// `FCALL` of the program's function with `call`'s keys and arguments.
    pub(super) fn fcall(&self, call: &Call) -> Cmd {
        call.command("FCALL", &self.function)
    }

    /// `FUNCTION LOAD REPLACE` of the program's library (a cluster sends it to every primary).
    pub(super) fn load(&self) -> Cmd {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("LOAD").arg("REPLACE").arg(&self.library);
        cmd
    }

    /// The script form of `call` by its SHA: answered `NOSCRIPT` by a server that has not
    /// cached the script (a restart, a failover, `SCRIPT FLUSH`), then [`Program::eval`].
    pub(super) fn evalsha(&self, call: &Call) -> Cmd {
        call.command("EVALSHA", &self.sha)
    }

    /// The script form of `call` with the script's text, which the server runs and caches: one
    /// round trip where `SCRIPT LOAD` and `EVALSHA` would take two, routed by the call's keys
    /// like any other call on a cluster.
    pub(super) fn eval(&self, call: &Call) -> Cmd {
        call.command("EVAL", &self.script)
    }
}

/// One call's `KEYS` and `ARGV`, in the order of the program's header.
#[derive(Debug, Default)]
pub(super) struct Call {
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Call {
    /// `<name> <first> <number of keys> <keys...> <args...>`: FCALL, EVALSHA and EVAL alike.
    fn command(&self, name: &str, first: &str) -> Cmd {
        let mut cmd = redis::cmd(name);
        cmd.arg(first).arg(self.keys.len());
        for key in &self.keys {
            cmd.arg(key);
        }
        for arg in &self.args {
            cmd.arg(arg);
        }
        cmd
    }

    pub(super) fn key(&mut self, key: impl ToRedisArgs) -> &mut Call {
        self.keys.extend(key.to_redis_args());
        self
    }

    pub(super) fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Call {
        self.args.extend(arg.to_redis_args());
        self
    }
}

/// The server has no Functions: `FCALL` is not a command it knows.
pub(super) fn lacks_functions(error: &redis::RedisError) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    text.contains("unknown command") && text.contains("fcall")
}

/// The library is not loaded (a restarted or new node, `FUNCTION FLUSH`).
pub(super) fn function_missing(error: &redis::RedisError) -> bool {
    error
        .to_string()
        .to_ascii_lowercase()
        .contains("function not found")
}

/// The server has not cached the script (`NOSCRIPT`): a restart, a failover, `SCRIPT FLUSH`.
pub(super) fn script_missing(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_that_find_the_library_missing_together_load_it_once() {
        let program = Program::new("t", "", "return 1\n");
        let sent = AtomicU64::new(0);
        let load = || async {
            sent.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(redis::Value::Okay)
        };
        let seen = program.loads();
        let waiting = (0..20).map(|_| program.load_once(seen, load));
        let results = futures_util::future::join_all(waiting).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(sent.load(Ordering::SeqCst), 1);
        // Missing again later (another flush): the next call that notices loads again.
        program.load_once(program.loads(), load).await.unwrap();
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_load_lets_the_next_caller_try() {
        let program = Program::new("t", "", "return 1\n");
        let seen = program.loads();
        let failed = program
            .load_once(seen, || async {
                Err(RedisError::from((redis::ErrorKind::Io, "gone")))
            })
            .await;
        assert!(failed.is_err());
        let sent = AtomicU64::new(0);
        program
            .load_once(seen, || async {
                sent.fetch_add(1, Ordering::SeqCst);
                Ok(redis::Value::Okay)
            })
            .await
            .unwrap();
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn both_forms_come_from_the_same_text() {
        let program = Program::new("t", "local A = 1\n", "return A + tonumber(ARGV[1])\n");
        assert!(program.function.starts_with("fg_t_"));
        assert_eq!(program.function.len(), "fg_t_".len() + 16);
        assert!(
            program
                .library
                .starts_with(&format!("#!lua name={}\n", program.function))
        );
        assert!(program.library.contains("local A = 1\n"));
        assert!(
            program
                .library
                .contains("function(KEYS, ARGV)\nreturn A + tonumber(ARGV[1])\n\nend)\n")
        );
        let mut call = Call::default();
        call.key("k").arg("7");
        let args = |cmd: Cmd| {
            cmd.args_iter()
                .map(|arg| match arg {
                    redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    _ => "<not a plain argument>".to_string(),
                })
                .collect::<Vec<_>>()
        };
        let script = "local A = 1\nreturn A + tonumber(ARGV[1])\n";
        assert_eq!(args(program.eval(&call)), ["EVAL", script, "1", "k", "7"]);
        let sha = Script::new(script).get_hash().to_string();
        assert_eq!(
            args(program.evalsha(&call)),
            ["EVALSHA", &sha, "1", "k", "7"]
        );
        assert_eq!(
            args(program.fcall(&call)),
            ["FCALL", &program.function, "1", "k", "7"]
        );
        let other = Program::new("t", "local A = 2\n", "return A + tonumber(ARGV[1])\n");
        assert_ne!(
            program.function, other.function,
            "another prelude, another library"
        );
    }
}
