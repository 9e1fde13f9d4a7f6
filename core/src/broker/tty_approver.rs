//! The runner's own [`Approver`]: the question on the controlling terminal
//! (`/dev/tty`), answered by typing `y` and Enter.
//!
//! Guarantees: the question shows agent, project, secret, component digest
//! and run id, all validated names or hex, and never a value; only a line
//! typed after the question is shown counts (type-ahead is discarded), and
//! only `y` or `yes` allows; anything else, end of input or a terminal
//! error refuses; no full line within the timeout is `timed-out`. Without a
//! controlling terminal nobody is asked ([`Answer::Unavailable`]).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use rustix::fs::{OFlags, fcntl_setfl};
use rustix::termios::{QueueSelector, tcflush};

use super::approval::{Answer, Answerer, Approver, Question, Verdict};

/// How long a question waits for an answer unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The variable that sets the timeout, in whole seconds (1 to 3600).
pub const TIMEOUT_ENV: &str = "SCOPEHOLD_APPROVAL_TIMEOUT";
/// A longer answer is not a yes; it is not kept either.
const MAX_ANSWER: usize = 64;

/// Asks at the controlling terminal.
pub struct TerminalApprover {
    timeout: Duration,
}

impl TerminalApprover {
    pub fn new(timeout: Duration) -> Self {
        TerminalApprover { timeout }
    }
}

impl Approver for TerminalApprover {
    fn ask(&self, question: &Question) -> Answer {
        let tty = OpenOptions::new().read(true).write(true).open("/dev/tty");
        let Ok(mut tty) = tty else {
            return Answer::Unavailable;
        };
        // A terminal that fails mid-question refuses.
        let verdict = converse(&mut tty, question, self.timeout).unwrap_or(Verdict::Refused);
        Answer::Given {
            verdict,
            by: answerer(),
        }
    }
}

fn converse(tty: &mut File, q: &Question, timeout: Duration) -> std::io::Result<Verdict> {
    // An answer typed before the question was on the screen is no answer.
    tcflush(&*tty, QueueSelector::IFlush)?;
    let deadline = (Instant::now() + timeout).min(q.deadline);
    let wait = deadline.saturating_duration_since(Instant::now());
    tty.write_all(prompt(q, wait).as_bytes())?;
    let verdict = match read_line_until(tty, deadline)? {
        None => Verdict::TimedOut,
        Some(line) if matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes") => Verdict::Allowed,
        Some(_) => Verdict::Refused,
    };
    let shown = match verdict {
        Verdict::TimedOut => "\nscopehold: no answer in time: refused\n",
        Verdict::Allowed => "scopehold: allowed\n",
        Verdict::Refused => "scopehold: refused\n",
    };
    tty.write_all(shown.as_bytes())?;
    Ok(verdict)
}

fn prompt(q: &Question, wait: Duration) -> String {
    let id = &q.identity;
    format!(
        "\nscopehold: approval needed\n  agent      {} (project {})\n  secret     {}\n  \
         component  {}\n  run        {}\nallow this run to use {}? [y/N] ({} s): ",
        id.agent,
        id.project,
        q.secret,
        q.component,
        id.run,
        q.secret,
        wait.as_millis().div_ceil(1000)
    )
}

/// One line typed at the terminal (canonical mode: the kernel hands it
/// over once Enter is pressed), or `None` at the deadline. The read does
/// not block, so the deadline holds whatever the person does.
fn read_line_until(tty: &mut File, deadline: Instant) -> std::io::Result<Option<String>> {
    fcntl_setfl(&*tty, OFlags::NONBLOCK)?;
    let mut line = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        match tty.read(&mut chunk) {
            // End of input (Ctrl-D) answers with what was typed.
            Ok(0) => return Ok(Some(answer_text(&line))),
            Ok(n) => {
                line.extend_from_slice(&chunk[..n]);
                if let Some(end) = line.iter().position(|&b| b == b'\n') {
                    line.truncate(end);
                    return Ok(Some(answer_text(&line)));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn answer_text(line: &[u8]) -> String {
    match line.len() <= MAX_ANSWER {
        true => String::from_utf8_lossy(line).into_owned(),
        false => String::new(),
    }
}

/// Who is at the terminal: this process's real uid and its user name
/// (one lookup for the whole program: `crate::operator`).
fn answerer() -> Answerer {
    let operator = crate::operator::Operator::current();
    Answerer {
        uid: operator.uid,
        user: operator.user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_answer_is_no_yes() {
        assert_eq!(answer_text(b"y"), "y");
        assert_eq!(answer_text(&[b'y'; 65]), "");
    }
}
