"""Mask secrets in a config before it is logged to MLflow or written into a model card.

Three rules, applied to every key and string of a nested dict or list:
- a key that names a secret has its value replaced by MASK (None and booleans are kept: they hold no
  secret). A key names a secret when its last word, or its last two words, do: `hf_token`,
  `db_password`, `clientSecret`, `aws_secret_access_key`, `api-key`; not `max_tokens`,
  `token_type_ids`, `password_file` or `sort_key`.
- a URL's password, and its secret-named query parameters, are masked:
  `http://user:pw@host/?token=abc` -> `http://user:***@host/?token=***`.
- anything shaped like a well-known token (Hugging Face, GitHub, AWS, OpenAI/Anthropic, Slack,
  Google, Databricks, JWT, PEM private keys) is masked wherever it appears in a string.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_WORDS = {"token", "password", "passwd", "pwd", "passphrase", "secret", "apikey", "credential",
                "credentials", "auth", "authorization", "cookie", "signature", "sig"}
SECRET_KEY_PREFIXES = {"api", "access", "secret", "private", "signing", "encryption", "ssh"}  # <prefix>_key
TOKEN_PATTERNS = re.compile("|".join([
    r"\bhf_[A-Za-z0-9]{20,}",                                   # Hugging Face
    r"\bgh[pousr]_[A-Za-z0-9]{30,}", r"\bgithub_pat_\w{30,}",   # GitHub
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",                           # AWS access key id
    r"\bsk-[A-Za-z0-9_-]{20,}",                                 # OpenAI, Anthropic (sk-ant-...)
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",                          # Slack
    r"\bAIza[A-Za-z0-9_-]{35}",                                 # Google API key
    r"\bdapi[0-9a-f]{32}",                                      # Databricks
    r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+",                    # JWT
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
]))
URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^\s:/@]*:)([^\s/@]+)(@)")
QUERY_PARAMETER = re.compile(r"([?&;])([^=&;#\s]+)=([^&;#\s]*)")


def redact(value: Any) -> Any:
    """A copy of `value` (nested dicts, lists, strings) with secrets masked; other values unchanged."""
    if isinstance(value, dict):
        return {key: MASK if is_secret_key(str(key)) and _holds_data(item) else redact(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    if isinstance(value, str):
        return _redact_text(value)
    return value


def is_secret_key(key: str) -> bool:
    """Whether a key names a secret: its last word does (`hf_token`), or its last two (`api_key`)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])", r"\1\3_\2\4", key)  # camelCase, HFToken
    words = [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]
    if not words:
        return False
    return words[-1] in SECRET_WORDS or (words[-1] == "key" and len(words) > 1 and words[-2] in SECRET_KEY_PREFIXES)


def _holds_data(value: Any) -> bool:
    return value is not None and not isinstance(value, bool)


def _redact_text(text: str) -> str:
    text = TOKEN_PATTERNS.sub(MASK, text)
    text = URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)
    return QUERY_PARAMETER.sub(lambda m: f"{m[1]}{m[2]}={MASK}" if is_secret_key(m[2]) else m[0], text)
