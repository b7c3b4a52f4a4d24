"""What never reaches the output: raw user ids (unless asked), session tokens, e-mails, secrets in paths.

* user ids become a keyed hash (BLAKE2b keyed with a per-dump salt) — the same id always maps to the same
  pseudonym within a dump (and across dumps ingested with the same salt), and without the salt the
  pseudonym cannot be reversed by hashing guesses;
* explicit session ids are always hashed (they are often cookies or tokens);
* paths lose their query string and fragment; e-mail addresses and long opaque tokens in path segments
  become ``{email}`` / ``{token}``; numeric ids, UUIDs and hex ids are kept (the replay fills route
  parameters from them) unless ``template_ids`` is set;
* no header, cookie or other attribute is copied to the output at all: readers only extract the fields the
  event table names.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from tracereplay.errors import InputError
from tracereplay.ingest.templating import is_secret, template_path, template_segment

SALT_BYTES = 32


def new_salt() -> bytes:
    """A fresh random key for one dump's pseudonyms."""
    return secrets.token_bytes(SALT_BYTES)


def load_or_create_salt(path: Path) -> tuple[bytes, bool]:
    """The salt kept at ``path`` (hex text), creating it (mode 0600) when absent. Returns (salt, created)."""
    if path.exists():
        text = path.read_text().strip()
        try:
            salt = bytes.fromhex(text)
        except ValueError:
            raise InputError(path, "salt file is not hex text") from None
        if not salt:
            raise InputError(path, "salt file is empty")
        return salt, False
    salt = new_salt()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(salt.hex() + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return salt, True


def pseudonymise(values: Sequence[str], salt: bytes, *, prefix: str = "u") -> list[str]:
    """Keyed-hash pseudonyms for distinct values: ``prefix`` + 16 hex digits (64 bits)."""
    keyed = hashlib.blake2b(key=salt[:64], digest_size=8)  # BLAKE2b takes keys of up to 64 bytes
    out = []
    append = out.append
    for value in values:
        digest = keyed.copy()  # copying the keyed state skips hashing the key block again for every value
        digest.update(value.encode("utf-8", "surrogatepass"))
        append(prefix + digest.hexdigest())
    return out


def redact_path(path: str, *, template_ids: bool = False) -> str:
    """Query and fragment dropped; e-mails and opaque tokens (and ids if asked) replaced by placeholders."""
    if template_ids:
        return template_path(path)
    bare = path.split("?", 1)[0].split("#", 1)[0]
    parts = []
    for segment in bare.split("/"):
        placeholder = template_segment(segment) if segment else segment
        parts.append(placeholder if is_secret(placeholder) else segment)
    return "/".join(parts)


def path_of_url(url: str) -> str | None:
    """The path of a full URL (``https://h/a/b?q`` → ``/a/b``)."""
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return None
