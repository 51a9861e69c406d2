"""MkDocs hooks (mkdocs.yml ``hooks:``): the README is the site's front page, and links out of docs/ work.

The pages are written to read on GitHub too, so they link with paths relative to the file: the README
to ``docs/gke-l4.md``, a docs page to ``../bench/results/autoscaler.md``. MkDocs only knows ``docs/``,
so without this it would warn about (``--strict``: fail on) every link that leaves it. Here:

- ``README.md`` becomes the site's ``index.md`` (one landing text, not two that drift apart), its
  links rewritten to be relative to ``docs/``;
- a link to a file of the repository outside ``docs/`` points at that file on GitHub (``repo_url``),
  and an image outside ``docs/`` is copied into the site, so the page shows it offline;
- a pipe in a code span of a table row is written ``\\|`` for GitHub, which splits cells on every
  ``|``; Python-Markdown splits around code spans and would show the backslash, so it is removed;
- a link to a file that does not exist in the repository is a warning, which ``--strict`` turns
  into a failed build: MkDocs checks the links inside ``docs/``, this checks the ones that leave it.

MkDocs' own validation (mkdocs.yml ``validation:``) still checks every link and anchor inside the site.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

LOG = logging.getLogger("mkdocs.plugins.diffusion_operator")
REPO = Path(__file__).resolve().parents[1]
#: ``[text](target)`` and ``![alt](target)``, target without spaces; code spans are removed first.
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
#: Fenced blocks and inline code spans: what looks like a link there (a regex's ``[a-z](...)``) is code.
_CODE = re.compile(r"^(```|~~~).*?^\1|(`+)(?!`).+?(?<!`)\2(?!`)", re.MULTILINE | re.DOTALL)
_IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif")
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)")
#: Where files from outside docs/ are copied inside the site.
_COPIED = "repo"
_BRANCH = "main"


def on_files(files: Files, config: Any) -> Files:
    """Add the README as the front page and every image the pages show from outside docs/."""
    readme = (REPO / "README.md").read_text()
    files.append(File.generated(config, "index.md", content=readme))
    docs_dir = Path(config["docs_dir"])
    sources = [(REPO, readme)] + [
        (path.parent, path.read_text()) for path in sorted(docs_dir.rglob("*.md"))
    ]
    copied: set[str] = set()
    for base, markdown in sources:
        for _, target, _ in _links(markdown):
            path = _repo_path(base, target)
            if path is not None and not _inside(path, docs_dir) and path.suffix in _IMAGE_SUFFIXES and path.is_file():
                copied.add(path.relative_to(REPO).as_posix())
    for relative in sorted(copied):
        files.append(File.generated(config, f"{_COPIED}/{relative}", abs_src_path=str(REPO / relative)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite the links that leave docs/ (all of the README's, relative to the repository's root)."""
    docs_dir = Path(config["docs_dir"])
    is_readme = page.file.src_uri == "index.md"
    base = REPO if is_readme else (docs_dir / page.file.src_uri).parent
    page_dir = docs_dir / posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match[str]) -> str:
        opening, target, closing = match.groups()
        path = _repo_path(base, target)
        if path is None:
            return match.group(0)
        _, hash_sign, fragment = target.partition("#")
        anchor = hash_sign + fragment
        if not path.exists():
            LOG.warning("%s links to %s, which is not in the repository", _name(page, is_readme), target)
            return match.group(0)
        if _inside(path, docs_dir):
            relative = posixpath.relpath(path.as_posix(), page_dir.as_posix())
            return f"{opening}{relative}{anchor}{closing}"
        if path.suffix in _IMAGE_SUFFIXES and opening.startswith("!"):
            copied = docs_dir / _COPIED / path.relative_to(REPO)
            return f"{opening}{posixpath.relpath(copied.as_posix(), page_dir.as_posix())}{closing}"
        kind = "tree" if path.is_dir() else "blob"
        url = f"{config['repo_url'].rstrip('/')}/{kind}/{_BRANCH}/{path.relative_to(REPO).as_posix()}"
        return f"{opening}{url}{anchor}{closing}"

    return _unescape_table_code_pipes(_substitute(markdown, rewrite))


def _unescape_table_code_pipes(markdown: str) -> str:
    def unescape(span: re.Match[str]) -> str:
        return span.group(0).replace("\\|", "|")

    return "\n".join(_CODE_SPAN.sub(unescape, line) if line.startswith("|") else line
                     for line in markdown.split("\n"))


def _links(markdown: str) -> list[tuple[str, str, str]]:
    return [match.groups() for match in _links_outside_code(markdown)]


def _links_outside_code(markdown: str) -> list[re.Match[str]]:
    """Link matches that do not start inside code (links in examples are examples)."""
    code = [(span.start(), span.end()) for span in _CODE.finditer(markdown)]
    return [link for link in _LINK.finditer(markdown)
            if not any(start <= link.start() < end for start, end in code)]


def _substitute(markdown: str, rewrite: Any) -> str:
    out, last = [], 0
    for link in _links_outside_code(markdown):
        out += [markdown[last:link.start()], rewrite(link)]
        last = link.end()
    return "".join([*out, markdown[last:]])


def _repo_path(base: Path, target: str) -> Path | None:
    """The repository file a relative link names; None for URLs, mail and same-page anchors."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
        return None
    return Path(posixpath.normpath((base / target.partition("#")[0]).as_posix()))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _name(page: Any, is_readme: bool) -> str:
    return "README.md" if is_readme else f"docs/{page.file.src_uri}"
