"""``--exclude-bots``: real user agents (from ../shared/data/apache_logs and public crawler docs)."""

from __future__ import annotations

import pytest

from tracereplay.ingest.bots import is_bot


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    "Mozilla/5.0 (compatible; AhrefsBot/5.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SomeNewBot/0.1)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "curl/7.29.0", "Wget/1.13.4 (linux-gnu)", "python-requests/2.31.0", "Java/1.8.0_45",
])
def test_crawlers_and_scripted_clients_are_bots(agent):
    assert is_bot(agent)


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:27.0) Gecko/20100101 Firefox/27.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/32.0.1700.77 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36",
    "UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/",
    "Tiny Tiny RSS/1.11 (http://tt-rss.org/)",
    "-", "",
])
def test_people_and_feed_readers_are_not(agent):
    assert not is_bot(agent)
