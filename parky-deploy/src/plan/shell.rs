//! Printing an argv so that it can be pasted into a POSIX shell (`sh`, `bash`, `zsh`).

use std::borrow::Cow;

/// Whether `arg` means the same to a POSIX shell unquoted: non-empty, and only ASCII letters,
/// digits and `_ @ % + = : , . / -` (no spaces, globs, quotes, `$`, `~`, `#`, …).
fn is_plain(arg: &str) -> bool {
    !arg.is_empty()
        && arg.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
                )
        })
}

/// One argument quoted for a POSIX shell: unchanged when it is plain (see above), else in
/// single quotes, with each `'` written as `'\''`. The empty string becomes `''`.
#[must_use]
pub fn shell_quote(arg: &str) -> Cow<'_, str> {
    if is_plain(arg) {
        Cow::Borrowed(arg)
    } else {
        Cow::Owned(format!("'{}'", arg.replace('\'', r"'\''")))
    }
}

/// An argv as one shell command line: each argument [`shell_quote`]d, joined by spaces.
/// Pasted into a shell, it runs the same program with the same arguments.
#[must_use]
pub fn shell_join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|arg| shell_quote(arg.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_as_they_are() {
        assert_eq!(
            shell_join(&["npx", "wrangler", "deploy", "--env=prod", "./a/b:c,d@1%+"]),
            "npx wrangler deploy --env=prod ./a/b:c,d@1%+"
        );
    }

    #[test]
    fn words_a_shell_would_split_or_expand_are_single_quoted() {
        // What `sh` would otherwise do, by hand: split at the space, expand `$HOME`, `*`
        // and `~`, start a comment at `#`, end the command at `;`.
        assert_eq!(
            shell_join(&[
                "npx",
                "wrangler",
                "rollback",
                "--message",
                "parky: public rollback"
            ]),
            "npx wrangler rollback --message 'parky: public rollback'"
        );
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("*.js"), "'*.js'");
        assert_eq!(shell_quote("~/w"), "'~/w'");
        assert_eq!(shell_quote("#x"), "'#x'");
        assert_eq!(shell_quote("a;b"), "'a;b'");
        assert_eq!(shell_quote("é"), "'é'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn empty_words_and_single_quotes_survive() {
        assert_eq!(shell_quote(""), "''");
        // it's → 'it'\''s': close the quote, an escaped ', reopen.
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(
            shell_join(&["sh", "-c", "echo 'hi' >> ../calls.log"]),
            r"sh -c 'echo '\''hi'\'' >> ../calls.log'"
        );
        assert_eq!(shell_join::<&str>(&[]), "");
    }
}
