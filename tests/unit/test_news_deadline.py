"""``deadline_s`` in ``[daemon.news]``: the Fetcher's overall deadline per fetch, from config."""

from __future__ import annotations

from pathlib import Path

import pytest

from fund.config import load_config
from tests.unit.test_config import assert_names, config_error, with_news


def test_the_deadline_is_a_fetch_option_a_source_may_override(tmp_path: Path) -> None:
    # Arrange
    path = with_news(tmp_path, 'feeds = ["https://a.test/rss",'
                               ' {url = "https://b.test/atom", deadline_s = 60}]\n'
                               'pages = ["http://c.test/story"]\n'
                               "deadline_s = 12.5\n")

    # Act
    sources = load_config(path).daemon.news

    # Assert
    assert [s.fetch.deadline for s in sources] == [12.5, 60.0, 12.5]
    assert sources[1].fetch.fetcher_kwargs() == {"deadline": 60.0}


def test_an_unset_deadline_keeps_the_fetchers_default(tmp_path: Path) -> None:
    path = with_news(tmp_path, 'feeds = ["https://a.test/rss"]\n')

    [source] = load_config(path).daemon.news

    assert source.fetch.deadline is None
    assert "deadline" not in source.fetch.fetcher_kwargs()  # so Fetcher's 30 s applies


@pytest.mark.parametrize(("table", "key", "words"), [
    ('feeds = ["https://a.test/rss"]\ndeadline_s = 0\n', "daemon.news.deadline_s",
     "greater than 0"),
    ('feeds = ["https://a.test/rss"]\ndeadline_s = -5\n', "daemon.news.deadline_s",
     "greater than 0"),
    ('feeds = ["https://a.test/rss"]\ndeadline_s = inf\n', "daemon.news.deadline_s",
     "finite number"),
    ('feeds = ["https://a.test/rss"]\ndeadline_s = "soon"\n', "daemon.news.deadline_s",
     "valid number"),
    ('pages = [{url = "https://a.test/x", deadline_s = 0}]\n',
     "daemon.news.pages.0.deadline_s", "greater than 0"),
    ('feeds = ["https://a.test/rss"]\ndeadline = 30\n', "daemon.news.deadline", "unknown key"),
])
def test_a_bad_deadline_names_its_key(tmp_path: Path, table: str, key: str,
                                      words: str) -> None:
    # Arrange
    path = with_news(tmp_path, table)

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, f"{key}: ")
    assert words in message, message
