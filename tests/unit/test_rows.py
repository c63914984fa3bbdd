"""A domain's value laid out in rows: one row while small, a head and member pages when large."""

import orjson

from streams.domains import rows
from streams.domains.state import DomainState


def domain_with(members: int, domain: str = "big.example", lapsed: bool = False) -> dict:
    state = DomainState(domain, status="lapsed" if lapsed else "active", next_check_at=123.0)
    for i in range(members):
        account = f"acct-{i}"
        state.members[account] = {f"u{i}@{domain}": {"email": f"u{i}@{domain}", "verified": True, "verified_at": None}}
        if lapsed:
            state.emitted[f"{account}\nu{i}@{domain}"] = f"id-{i}"
    return state.to_dict()


def test_a_small_domain_is_one_row_as_before():
    value = domain_with(rows.PAGE_AT)
    assert rows.split("big.example", value) == {"big.example": value}
    assert rows.join(value, []) is value


def test_a_large_domain_splits_into_pages_and_joins_back_whole():
    value = domain_with(rows.PAGE_AT + 1, lapsed=True)
    stored = rows.split("big.example", value)
    head = stored.pop("big.example")
    assert head["pages"] == len(stored) >= 2
    assert set(stored) == {rows.page_key("big.example", n) for n in range(head["pages"])}
    assert head["members"] == {} and head["status"] == "lapsed" and head["next_check_at"] == 123.0
    assert rows.join(head, list(stored.values())) == value
    # An account's addresses and its emitted ids live on the same page.
    for page in stored.values():
        assert {key.split("\n")[0] for key in page["emitted"]} == set(page["members"])


def test_no_row_of_a_very_large_domain_nears_the_record_limit():
    value = domain_with(60_000, lapsed=True)
    stored = rows.split("big.example", value)
    largest = max(len(orjson.dumps(row)) for row in stored.values())
    assert len(orjson.dumps(value)) > 5_000_000  # one row would be refused by any broker's default limit
    assert largest < 200_000, largest
    assert rows.join(stored.pop("big.example"), list(stored.values())) == value


def test_pages_double_as_the_domain_grows_and_halve_only_when_far_too_many():
    assert rows.pages_for(rows.PAGE_AT, 0) == 0
    first = rows.pages_for(rows.PAGE_AT + 1, 0)
    assert first * rows.PAGE_MEMBERS >= rows.PAGE_AT + 1
    assert rows.pages_for(first * rows.PAGE_MEMBERS + 1, first) == 2 * first
    # A few members less keeps the layout: no rewrite of every page for one removal.
    assert rows.pages_for(first * rows.PAGE_MEMBERS - 5, first) == first
    assert rows.pages_for(100 * rows.PAGE_MEMBERS // 4 - 1, 128) < 128


def test_a_paged_domain_goes_back_to_one_row_only_well_below_the_threshold():
    pages = rows.pages_for(rows.PAGE_AT + 1, 0)
    assert rows.pages_for(rows.PAGE_AT, pages) > 0  # hovering at the edge does not flip the layout
    assert rows.pages_for(rows.UNPAGE_AT + 1, pages) > 0
    assert rows.pages_for(rows.UNPAGE_AT, pages) == 0
    value = domain_with(rows.UNPAGE_AT)
    assert rows.split("big.example", value, current_pages=pages) == {"big.example": value}


def test_an_account_stays_on_its_page_while_the_page_count_holds():
    before = rows.split("big.example", domain_with(rows.PAGE_AT + 1))
    pages = before["big.example"]["pages"]
    grown = domain_with(rows.PAGE_AT + 2)
    after = rows.split("big.example", grown, current_pages=pages)
    changed = [key for key in after if after[key] != before.get(key)]
    assert changed == [rows.page_key("big.example", rows.page_of(f"acct-{rows.PAGE_AT + 1}", pages))]


def test_page_keys_cannot_be_domains_and_heads_say_whether_anyone_is_left():
    assert rows.is_page_key(rows.page_key("big.example", 3)) and not rows.is_page_key("big.example")
    assert rows.has_members({"members": {}, "pages": 4})
    assert rows.has_members(domain_with(1)) and not rows.has_members(domain_with(0))
