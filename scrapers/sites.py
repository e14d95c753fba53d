"""Per-site configuration of the catalog spider: conf/sources/catalog_sites.yml (SITES_FILE)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cssselect import SelectorError
from parsel import Selector

from scrapers.extraction import CSS_FIELDS

DEFAULT_SITES_FILE = (
    Path(__file__).resolve().parent.parent / "conf" / "sources" / "catalog_sites.yml"
)

# Generic defaults, used without -a site=... and for selectors a site leaves out.
DEFAULT_COURSE_LINK = "a.course-link"
# rel is a token list ("next nofollow"), hence ~= rather than =.
DEFAULT_NEXT_PAGE = "a[rel~=next], link[rel~=next]"

LINK_SELECTORS = ("course_link", "next_page")
SELECTOR_KEYS = frozenset(LINK_SELECTORS) | frozenset(CSS_FIELDS)
SITE_KEYS = frozenset(
    {
        "start_urls",
        "sitemap_url",
        "allowed_domains",
        "url_pattern",
        "download_timeout",
        "selectors",
    }
)


class SiteConfigError(ValueError):
    """The sites file (SITES_FILE) is missing, malformed or lacks the site."""


@dataclass(frozen=True)
class SiteConfig:
    name: str | None = None
    start_urls: tuple[str, ...] = ()
    sitemap_urls: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    url_pattern: re.Pattern[str] | None = None
    download_timeout: float | None = None
    course_link: str = DEFAULT_COURSE_LINK
    next_page: str = DEFAULT_NEXT_PAGE
    # Field selectors for the CSS fallback, by CSS_FIELDS key (empty: no CSS fallback).
    field_selectors: Mapping[str, str] = field(default_factory=dict)


GENERIC_SITE = SiteConfig()


def _string_list(site: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SiteConfigError(f"site {site!r}: {key} must be a string or a list of strings")
    return tuple(v.strip() for v in value)


def _check_selector(site: str, key: str, query: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise SiteConfigError(f"site {site!r}: selector {key} must be a non-empty string")
    try:
        Selector(text="<html></html>").css(query)
    except (SelectorError, ValueError) as exc:
        message = f"site {site!r}: selector {key} {query!r} is invalid: {exc}"
        raise SiteConfigError(message) from None
    return query.strip()


def parse_site(name: str, raw: Any) -> SiteConfig:
    """Return the validated SiteConfig of one conf/sources/catalog_sites.yml entry."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SiteConfigError(f"site {name!r} must be a mapping of settings")
    unknown = set(raw) - SITE_KEYS
    if unknown:
        raise SiteConfigError(
            f"site {name!r}: unknown keys {sorted(unknown)} (known: {sorted(SITE_KEYS)})"
        )
    selectors = raw.get("selectors") or {}
    if not isinstance(selectors, dict):
        raise SiteConfigError(f"site {name!r}: selectors must be a mapping")
    unknown = set(selectors) - SELECTOR_KEYS
    if unknown:
        raise SiteConfigError(
            f"site {name!r}: unknown selectors {sorted(unknown)} (known: {sorted(SELECTOR_KEYS)})"
        )
    checked = {key: _check_selector(name, key, query) for key, query in selectors.items()}
    pattern = raw.get("url_pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise SiteConfigError(f"site {name!r}: url_pattern must be a string")
        try:
            pattern = re.compile(pattern)
        except re.error as exc:
            raise SiteConfigError(f"site {name!r}: url_pattern is invalid: {exc}") from None
    timeout = raw.get("download_timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise SiteConfigError(f"site {name!r}: download_timeout must be a positive number")
        timeout = float(timeout)
    return SiteConfig(
        name=name,
        start_urls=_string_list(name, "start_urls", raw.get("start_urls")),
        sitemap_urls=_string_list(name, "sitemap_url", raw.get("sitemap_url")),
        allowed_domains=_string_list(name, "allowed_domains", raw.get("allowed_domains")),
        url_pattern=pattern,
        download_timeout=timeout,
        course_link=checked.get("course_link", DEFAULT_COURSE_LINK),
        next_page=checked.get("next_page", DEFAULT_NEXT_PAGE),
        field_selectors={key: q for key, q in checked.items() if key not in LINK_SELECTORS},
    )


def load_site(name: str, sites_file: str | Path | None = None) -> SiteConfig:
    """Return the named site's configuration from sites_file (default: the repository's)."""
    path = Path(sites_file) if sites_file else DEFAULT_SITES_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SiteConfigError(f"cannot read the sites file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SiteConfigError(f"the sites file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SiteConfigError(f"the sites file {path} must map site names to settings")
    if name not in data:
        known = ", ".join(sorted(map(str, data))) or "none"
        raise SiteConfigError(f"unknown site {name!r} in {path} (known sites: {known})")
    return parse_site(name, data[name])
