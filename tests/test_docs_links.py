"""The docs hold together: every relative link and image in README.md, CONTRIBUTING.md,
CHANGELOG.md and docs/*.md names a file of the repository, every ``#anchor`` into a Markdown page
names one of its headings (GitHub's slugs), and the README stays a short landing page.

http(s) and other links with a scheme are not fetched. Links inside fenced code blocks and
inline code are not links.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md", *REPO.glob("docs/*.md")]
)
README_MAX_LINES = 200

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target), the text allowing one level of brackets (an image inside
# a link, `[x]` in code); the target optionally <in angle brackets> and followed by a "title".
LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+(<[^>]*>|\S+)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, inline code blanked out."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            continue
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        yield number, INLINE_CODE.sub(lambda c: " " * len(c.group(0)), line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text lowercased, punctuation other than '-'
    and '_' dropped, each space turned into '-'.

    >>> slug("Accuracy, in domain and on shifted test splits")
    'accuracy-in-domain-and-on-shifted-test-splits'
    >>> slug("Models and training (`cnnlab.training`)")
    'models-and-training-cnnlabtraining'
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub gives the page: heading slugs (a repeated one gets -1, -2, ...) and
    explicit <a id=...> / <a name=...>."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    text = page.read_text(encoding="utf-8")
    for _, line in prose_lines(text):
        if m := HEADING.match(line):
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    found.update(HTML_ANCHOR.findall(text))
    return found


def targets(page: Path):
    """(line number, target) of every link, image and link reference on the page."""
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for m in LINK.finditer(line):
            yield number, m.group(1).strip("<>")
        if m := REFERENCE.match(line):
            yield number, m.group(1).strip("<>")


def broken_links(page: Path, repo: Path = REPO) -> list[str]:
    """'FILE:LINE: LINK: why' for every relative link of the page that does not resolve."""
    broken = []
    where = page.relative_to(repo)
    for number, target in targets(page):
        if SCHEME.match(target):  # http(s), mailto: not fetched
            continue
        path_part, _, anchor = target.partition("#")
        path_part = unquote(path_part)
        dest = (page.parent / path_part).resolve() if path_part else page
        why = None
        if path_part.startswith("/"):
            why = "an absolute path (write it relative to the page)"
        elif not dest.is_relative_to(repo):
            why = "leads out of the repository"
        elif not dest.exists():
            why = f"{dest.relative_to(repo)} does not exist"
        elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            why = f"no heading of {dest.relative_to(repo)} has the anchor #{anchor}"
        if why:
            broken.append(f"{where}:{number}: ({target}): {why}")
    return broken


def test_the_pages_are_there():
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    assert {"README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs/index.md"} <= names
    assert all(p.is_file() for p in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_and_anchors_resolve(page):
    broken = broken_links(page)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines (the limit is under {README_MAX_LINES}): move detail "
        "into a page under docs/ and link it"
    )


def test_the_checker_sees_broken_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## A section, here\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n"
        "[fine](other.md#a-section-here) [fine too](#page) [web](https://example.invalid/x)\n"
        "![missing](figures/none.png)\n"
        "[bad anchor](other.md#no-such-section)\n"
        "`[in code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n"
        "[out](../../elsewhere.md)\n"
        "[ref]: missing.md\n"
    )
    broken = broken_links(page, tmp_path)
    assert [b.split(": (")[0] for b in broken] == [
        "docs/page.md:3",
        "docs/page.md:4",
        "docs/page.md:9",
        "docs/page.md:10",
    ], broken
    assert "figures/none.png" in broken[0] and "does not exist" in broken[0]
    assert "#no-such-section" in broken[1]


def test_slugs_follow_github():
    assert slug("Accuracy, in domain and on shifted test splits") == (
        "accuracy-in-domain-and-on-shifted-test-splits"
    )
    assert slug("Models and training (`cnnlab.training`)") == "models-and-training-cnnlabtraining"
    assert slug("How to add a layer") == "how-to-add-a-layer"
    assert slug("snake_case and a-dash: 2 + 2") == "snake_case-and-a-dash-2--2"
    assert slug("[Linked](x.md) heading") == "linked-heading"
