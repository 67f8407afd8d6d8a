//! The one place that writes output. Data a script consumes goes to stdout; the QR code,
//! progress and messages go to stderr, so `qrlogin export … > file` and `--json` pipes
//! stay clean. Verbosity is decided here, not at each call site.

use std::io::{IsTerminal, Write};

/// The width of the terminal on file descriptor `fd` (1 stdout, 2 stderr), if it is one.
pub fn terminal_columns(fd: i32) -> Option<usize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize we own; a non-terminal fd just returns an error.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// Standard output could not be written (exit 7: the data did not reach its file).
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct OutputError(std::io::Error);

#[derive(Debug, Clone)]
pub struct Printer {
    verbosity: i8,
    stderr_tty: bool,
    stdout_tty: bool,
}

impl Printer {
    pub fn new(verbosity: i8) -> Printer {
        Printer {
            verbosity,
            stderr_tty: std::io::stderr().is_terminal(),
            stdout_tty: std::io::stdout().is_terminal(),
        }
    }

    pub fn stderr_is_terminal(&self) -> bool {
        self.stderr_tty
    }

    pub fn stdout_is_terminal(&self) -> bool {
        self.stdout_tty
    }

    /// The width of the terminal on stdout, when stdout is one.
    pub fn stdout_width(&self) -> Option<usize> {
        self.stdout_tty.then(|| terminal_columns(1)).flatten()
    }

    pub fn verbosity(&self) -> i8 {
        self.verbosity
    }

    /// Data on stdout, exactly as given. A closed pipe (`| head`) is not an error: the
    /// reader has what it wanted. Any other failure (a full disk, `/dev/full`, a closed
    /// descriptor) is, so `export > file` never exits 0 with a short file.
    pub fn data(&self, text: &str) -> Result<(), OutputError> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(OutputError(e)),
            _ => Ok(()),
        }
    }

    /// Data on stdout a piece at a time, buffered: for output too large to build first
    /// (`list` of a large store). Errors are kept for `DataStream::finish`, as `data` has
    /// them.
    pub fn data_stream(&self) -> DataStream {
        DataStream {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
            closed: false,
            failed: None,
        }
    }

    /// One line of data on stdout (a JSON event, an id).
    pub fn data_line(&self, line: &str) -> Result<(), OutputError> {
        self.data(&format!("{line}\n"))
    }

    /// A message for the person at the terminal; hidden by `--quiet`.
    pub fn info(&self, msg: &str) {
        if self.verbosity >= 0 {
            self.stderr(msg);
        }
    }

    /// Detail shown with `-v`.
    pub fn detail(&self, msg: &str) {
        if self.verbosity >= 1 {
            self.stderr(msg);
        }
    }

    /// A warning; hidden by `--quiet`.
    pub fn warn(&self, msg: &str) {
        if self.verbosity >= 0 {
            self.stderr(&format!("warning: {msg}"));
        }
    }

    /// The final error line; always shown.
    pub fn error(&self, msg: &str) {
        self.stderr(&format!("qrlogin: error: {msg}"));
    }

    /// Raw text on stderr (the QR code), unless `--quiet`.
    pub fn raw_stderr(&self, text: &str) {
        if self.verbosity >= 0 {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
        }
    }

    fn stderr(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}

/// See `Printer::data_stream`. A closed pipe ends the output quietly (later writes go
/// nowhere); any other failure is reported by `finish`.
pub struct DataStream {
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    closed: bool,
    failed: Option<std::io::Error>,
}

impl DataStream {
    fn outcome(&mut self, r: std::io::Result<()>) {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => self.closed = true,
            Err(e) => {
                self.closed = true;
                self.failed = Some(e);
            }
            Ok(()) => {}
        }
    }

    /// Everything written reached stdout, or why not.
    pub fn finish(mut self) -> Result<(), OutputError> {
        if !self.closed {
            let r = self.out.flush();
            self.outcome(r);
        }
        match self.failed.take() {
            Some(e) => Err(OutputError(e)),
            None => Ok(()),
        }
    }
}

impl Write for DataStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.closed {
            let r = self.out.write_all(buf);
            self.outcome(r);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
