//! Who holds a lock: this host, this process, and the CI job when the environment names one
//! (GitHub Actions, GitLab CI), so that a second runner's error says where to look.

/// This process as a lock holder, e.g. `runner-7 pid 4242 https://github.com/o/r/actions/runs/9`.
pub fn identity() -> String {
    let mut id = format!("{} pid {}", host(), std::process::id());
    if let Some(job) = ci_job(&|k| std::env::var(k).ok()) {
        id.push(' ');
        id.push_str(&job);
    }
    id
}

/// The host name ("unknown" when the system does not say).
pub fn host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The CI job's URL: GitHub Actions' run URL (with the attempt), GitLab's `CI_JOB_URL`, or
/// another CI's job id.
pub fn ci_job(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if env("GITHUB_ACTIONS").as_deref() == Some("true")
        && let (Some(server), Some(repo), Some(run)) = (
            env("GITHUB_SERVER_URL"),
            env("GITHUB_REPOSITORY"),
            env("GITHUB_RUN_ID"),
        )
    {
        let attempt = env("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into());
        return Some(format!(
            "{server}/{repo}/actions/runs/{run}/attempts/{attempt}"
        ));
    }
    if let Some(url) = env("CI_JOB_URL") {
        return Some(url);
    }
    env("CI_JOB_ID").map(|id| format!("CI job {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_ci_job() {
        let gh = |k: &str| {
            Some(
                match k {
                    "GITHUB_ACTIONS" => "true",
                    "GITHUB_SERVER_URL" => "https://github.com",
                    "GITHUB_REPOSITORY" => "o/r",
                    "GITHUB_RUN_ID" => "9",
                    "GITHUB_RUN_ATTEMPT" => "2",
                    _ => return None,
                }
                .to_string(),
            )
        };
        assert_eq!(
            ci_job(&gh).as_deref(),
            Some("https://github.com/o/r/actions/runs/9/attempts/2")
        );
        let gl = |k: &str| (k == "CI_JOB_URL").then(|| "https://gitlab.com/o/r/-/jobs/5".into());
        assert_eq!(
            ci_job(&gl).as_deref(),
            Some("https://gitlab.com/o/r/-/jobs/5")
        );
        assert_eq!(ci_job(&|_| None), None);
        assert!(identity().contains(&format!("pid {}", std::process::id())));
    }
}
