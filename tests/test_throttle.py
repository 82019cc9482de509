"""Sign-in throttling: attempts booked before the password check, back-off, clients, no Redis, timing."""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from db.engine import get_engine
from db.passwords import check_password, make_password
from db.settings import get_settings
from tests.factories import staff_user
from workers.redis_connection import reset_redis
from workers.service.sign_in import SignInRefused, sign_in
from workers.service.throttle import PER_CLIENT, PER_USERNAME, book_attempt, client_address

SECRET = "a long enough secret"
WRONG = "Wrong username or password"
TOO_MANY = "Too many failed sign-ins"


def _parallel_guesses(count: int) -> list[str]:
    """`count` wrong passwords for `editor` from one client, all started at the same moment."""
    start = threading.Barrier(count)

    def guess(_: int) -> str:
        start.wait()
        try:
            sign_in("editor", "a wrong guess", client="198.51.100.7")
        except SignInRefused as refused:
            return str(refused)
        return "signed in"

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(guess, range(count)))


def _seconds(refusal: str) -> int:
    found = re.fullmatch(r"Too many failed sign-ins\. Wait (\d+) seconds?, then try again\.", refusal)
    assert found, refusal
    return int(found[1])


def test_parallel_guesses_get_only_the_free_password_checks(db: str, redis: Redis) -> None:
    staff_user("editor")
    answers = _parallel_guesses(20)
    assert sum(answer.startswith(WRONG) for answer in answers) == PER_USERNAME.free
    assert sum(answer.startswith(TOO_MANY) for answer in answers) == 20 - PER_USERNAME.free
    assert redis.hget("nd:signin:user:editor", "failures") == str(PER_USERNAME.free).encode()


def test_each_further_failure_doubles_the_wait_and_the_refusal_says_it(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait is waited out in Redis's clock, shortened (SIGN_IN_FIRST_WAIT_SECONDS) so it costs no
    five real seconds; the default's doubling is checked below."""
    first_wait = 0.8
    monkeypatch.setenv("SIGN_IN_FIRST_WAIT_SECONDS", str(first_wait))
    get_settings.cache_clear()
    staff_user("editor")
    for _ in range(PER_USERNAME.free - 1):
        assert book_attempt("editor", "198.51.100.7") == 0
    assert book_attempt("editor", "198.51.100.7") == 0  # the last free one, booked as a failure
    first = book_attempt("editor", "198.51.100.7")
    assert first_wait - 0.5 < first <= first_wait
    with pytest.raises(SignInRefused) as refused:
        sign_in("editor", SECRET, client="198.51.100.8")  # the right password, from elsewhere
    assert _seconds(str(refused.value)) == 1  # whole seconds, rounded up

    time.sleep(first + 0.05)
    assert book_attempt("editor", "198.51.100.7") == 0  # checked again, and it failed
    second = book_attempt("editor", "198.51.100.7")
    assert 2 * first_wait - 0.5 < second <= 2 * first_wait


def test_a_username_wait_is_capped_low_and_a_client_wait_high() -> None:
    first = get_settings().sign_in_first_wait_seconds
    assert first == 5
    assert PER_USERNAME.wait_after(1000, first) == 60  # nobody keeps `admin` out for more than a minute
    assert PER_CLIENT.wait_after(1000, first) == 15 * 60
    assert [PER_USERNAME.wait_after(PER_USERNAME.free + n, first) for n in range(5)] == [5, 10, 20, 40, 60]


def test_a_success_forgives_the_failures(db: str, redis: Redis) -> None:
    staff_user("editor")
    for _ in range(PER_USERNAME.free - 1):
        with pytest.raises(SignInRefused, match=WRONG):
            sign_in("editor", "guess", client="198.51.100.7")
    assert sign_in("editor", SECRET, client="198.51.100.7").username == "editor"
    assert not redis.exists("nd:signin:user:editor", "nd:signin:client:198.51.100.7")
    for _ in range(PER_USERNAME.free):  # a fresh allowance of free failures
        assert book_attempt("editor", "198.51.100.7") == 0


def test_one_client_is_held_back_across_usernames(db: str, redis: Redis) -> None:
    staff_user("editor")
    for n in range(PER_CLIENT.free):  # a spray: one guess at each of many usernames
        assert book_attempt(f"user{n}", "198.51.100.7") == 0
    with pytest.raises(SignInRefused, match=TOO_MANY):
        sign_in("editor", SECRET, client="198.51.100.7")
    assert sign_in("editor", SECRET, client="203.0.113.9").username == "editor"  # another client: not held
    with pytest.raises(SignInRefused, match=TOO_MANY):
        sign_in("someone-else", SECRET, client="198.51.100.7")


def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8")
    get_settings.cache_clear()
    assert client_address("198.51.100.7", "203.0.113.9") == "198.51.100.7"
    for n in range(PER_CLIENT.free):  # a new forged address each time does not make a new client
        assert book_attempt(f"user{n}", client_address("198.51.100.7", f"203.0.113.{n}")) == 0
    assert book_attempt("editor", client_address("198.51.100.7", "192.0.2.1")) > 0


def test_a_trusted_proxy_names_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    get_settings.cache_clear()
    assert client_address("10.1.2.3", "203.0.113.9") == "203.0.113.9"
    # A chain: the client forged an entry, then two trusted proxies appended what each saw.
    assert client_address("10.1.2.3", "6.6.6.6, 203.0.113.9, 192.0.2.1") == "203.0.113.9"
    assert client_address("10.1.2.3", "203.0.113.9 ,10.0.0.7") == "203.0.113.9"
    assert client_address("10.1.2.3", None) == "10.1.2.3"  # no header: the proxy itself
    assert client_address("10.1.2.3", "not-an-address") == "10.1.2.3"
    assert client_address("::ffff:10.1.2.3", "203.0.113.9") == "203.0.113.9"
    # An IPv6 subscriber holds a whole /64: counted as one client.
    assert client_address("2001:db8::1", None) == client_address("2001:db8::2", None) == "2001:db8::/64"


def test_a_proxy_on_this_machine_is_trusted_only_when_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # Streamlit reports a connection from this machine as no address at all.
    assert client_address(None, "203.0.113.9") == "127.0.0.1"
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    get_settings.cache_clear()
    assert client_address(None, "203.0.113.9") == "203.0.113.9"


@pytest.fixture
def no_redis(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """REDIS_URL names a port nothing listens on."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    reset_redis()


def test_without_redis_the_same_rules_hold_in_the_process(no_redis: None, caplog: pytest.LogCaptureFixture) -> None:
    staff_user("editor")
    caplog.set_level(logging.WARNING, logger="workers.service.throttle")
    assert sign_in("editor", SECRET, client="198.51.100.7").username == "editor"
    answers = _parallel_guesses(10)
    assert sum(answer.startswith(WRONG) for answer in answers) == PER_USERNAME.free
    assert sum(answer.startswith(TOO_MANY) for answer in answers) == 10 - PER_USERNAME.free
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "this process only" in warnings[0]  # once, not per attempt


@pytest.mark.real_password_hashes
def test_a_throttled_or_customer_refusal_takes_as_long_as_a_password_check(db: str, redis: Redis) -> None:
    staff_user("editor")
    with get_engine().begin() as connection:  # a customer, as Django's sign-up writes one
        connection.exec_driver_sql(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined) VALUES (%s, false, 'customer', '', '', '', false, true, now())",
            (make_password(SECRET),),
        )
    hashed = make_password(SECRET)
    started = time.perf_counter()
    check_password(SECRET, hashed)
    one_check = time.perf_counter() - started

    def refusal_time(username: str, client: str) -> float:
        started = time.perf_counter()
        with pytest.raises(SignInRefused):
            sign_in(username, SECRET, client=client)
        return time.perf_counter() - started

    assert refusal_time("customer", "198.51.100.7") >= 0.5 * one_check
    for n in range(PER_USERNAME.free):
        book_attempt("editor", f"198.51.100.{n}")
    assert refusal_time("editor", "203.0.113.9") >= 0.5 * one_check
