"""What a search check judges against: the suite's ``search:`` expectation and the search the
request made (type, criteria, compartment). Shared by the oracle (search.py) and the shape checks
(search_results.py), so neither imports the other."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from imgconf.searchparams import SearchQuery, matches, parse_query
from imgconf.searchparams.compartments import compartment_params
from imgconf.searchparams.match import left_open
from imgconf.searchparams.profiles import hidden_by_profile
from imgconf.searchparams.query import parse_criterion


@dataclass(frozen=True)
class SearchExpectation:
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    precision: bool = True
    recall: bool = True
    pages: int = 50
    self_link: bool = False  # judge the criteria echoed in Bundle.link[self]
    order: bool = False  # matches across pages follow _sort
    total: bool = False  # Bundle.total equals the distinct matches over all pages
    subsetted: bool = False  # matches that are subsets of their fixture carry SUBSETTED (REST-087/088)
    # Generated searches (imgconf fuzz): a criterion the server reports it did not apply (left out of the
    # self link, or named in an OperationOutcome: R4 lenient handling, REST-034/082) is not judged for
    # precision, unless it is plain use of a parameter the CapabilityStatement declares (declared = supported).
    lenient_ignored: bool = False
    # Criteria (names as sent) an actor the target is judged as must process (IHE PDQm/MHD: imgconf.fuzz.actors):
    # never "reported not applied", whatever the self link says.
    required: frozenset[str] = frozenset()
    # REST-083: the resources the matches refer to through an asked _include are in the Bundle (search_include.py)
    include_targets: bool = False
    # REST-044: every entry's fullUrl is the absolute URL of its resource (search_fullurl.py)
    full_urls: bool = False


class SearchTarget:
    """What was searched: the type, the criteria and an optional Patient compartment."""

    def __init__(self, resource_type: str, pairs: list[tuple[str, str]], compartment: tuple[str, str] | None) -> None:
        self.resource_type = resource_type
        self.query: SearchQuery = parse_query(resource_type, pairs)
        self.compartment = compartment
        self.compartment_criteria = []
        if compartment:
            ctype, cid = compartment
            for name in compartment_params(ctype, resource_type):
                crit = parse_criterion(resource_type, name, f"{ctype}/{cid}")
                if crit is not None:
                    self.compartment_criteria.append(crit)

    def failing_criterion(self, resource: dict[str, Any], resolver: Any, base: str, *, open_matches: bool = True,
                          skip: Collection[str] = ()) -> str | None:
        """The first criterion a resource does not meet, as ``name=value``; None when it matches.

        What R4 or a profile leaves open counts as met when judging what the server returned
        (``open_matches``) and as not met when deciding what it must return. Criteria named (as sent)
        in ``skip`` are not judged."""
        if resource.get("resourceType") != self.resource_type:
            return f"resourceType {resource.get('resourceType')!r} is not {self.resource_type}"
        if self.compartment and not any(
            matches(resource, c, resolver=resolver, base_url=base) for c in self.compartment_criteria
        ):
            return f"not in the {self.compartment[0]}/{self.compartment[1]} compartment"
        for crit in self.query.criteria:
            if (crit.raw_name or crit.name) in skip:
                continue
            if left_open(resource, crit):
                if open_matches:
                    continue
                return f"{crit.raw_name or crit.name}={crit.raw_value or ','.join(crit.values)} (left open by R4)"
            if not matches(resource, crit, resolver=resolver, base_url=base):
                return f"{crit.raw_name or crit.name}={crit.raw_value or ','.join(crit.values)}"
        # MHD: an entered-in-error document need not come back to a query without status, and coming
        # back is no error either (MHD-002: a consumer always sends status; MHD-033 is a content rule).
        return None if open_matches else hidden_by_profile(resource, self.query)


def self_link_pairs(bundle: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """The parameters of a Bundle's self link (R4: those the server applied), in order; None without a self link."""
    url = next((link.get("url") for link in (bundle or {}).get("link") or []
                if isinstance(link, dict) and link.get("relation") == "self" and link.get("url")), None)
    return parse_qsl(urlsplit(str(url)).query, keep_blank_values=True) if url else None


def entry_roles(page: dict[str, Any], rtype: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role, resource) of each entry of a searchset page that holds a resource: "match" for search.mode match, or
    no mode on a resource of the searched type (R4 makes the mode optional); else the entry's mode ("include",
    "outcome") or ""."""
    for entry in page.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        mode = (entry.get("search") or {}).get("mode")
        if mode == "match" or (mode is None and resource.get("resourceType") == rtype):
            yield "match", resource
        else:
            yield (mode if isinstance(mode, str) else ""), resource


def parse_search_request(base_url: str, url: str, form: list[tuple[str, str]]) -> SearchTarget | None:
    """Recognise ``[type]``, ``[type]/_search`` and ``Patient/[id]/[type]`` under the base URL; not a history
    (``[type]/[id]/_history``), an operation (``$x``) or ``metadata``: resource types are capitalised."""
    parts = urlsplit(url)
    base_path = urlsplit(base_url).path.rstrip("/")
    path = parts.path.removeprefix(base_path)
    segments = [s for s in path.strip("/").split("/") if s]
    pairs = parse_qsl(parts.query, keep_blank_values=True) + list(form)
    if not segments or not all(segments[i][:1].isupper() for i in range(0, len(segments), 2)):
        return None
    if len(segments) == 1:
        return SearchTarget(segments[0], pairs, None)
    if len(segments) == 2 and segments[1] == "_search":
        return SearchTarget(segments[0], pairs, None)
    if len(segments) == 3:
        return SearchTarget(segments[2], pairs, (segments[0], segments[1]))
    return None
