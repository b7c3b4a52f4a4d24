"""Well-known crawlers, told from the user agent (``--exclude-bots``).

The list is of names crawlers put in their user agent (documented in docs/formats.md), plus the generic words
crawlers use. It errs on the side of keeping: an agent is a bot only when one of these appears as a word, so a
phone called "Cubot Note" or a page on "robotics.example" stays a user.
"""

from __future__ import annotations

import re

#: crawler names matched case-insensitively as words in the user agent
BOT_NAMES: tuple[str, ...] = (
    # search engines
    "Googlebot", "Google-InspectionTool", "GoogleOther", "Storebot-Google", "AdsBot-Google",
    "Mediapartners-Google", "APIs-Google", "FeedFetcher-Google", "bingbot", "BingPreview", "msnbot",
    "adidxbot",
    "Slurp", "DuckDuckBot",
    "Baiduspider", "YandexBot", "YandexImages", "YandexMobileBot", "Yandex", "Sogou", "Exabot", "SeznamBot",
    "Applebot", "PetalBot", "Qwantify", "coccocbot", "Yeti", "NaverBot", "Daumoa", "360Spider", "Bytespider",
    # SEO and link crawlers
    "AhrefsBot", "SemrushBot", "MJ12bot", "DotBot", "BLEXBot", "MegaIndex", "SEOkicks", "serpstatbot",
    "DataForSeoBot", "Barkrowler", "linkdexbot", "rogerbot", "spbot", "Screaming Frog SEO Spider",
    # archives, research and AI crawlers
    "ia_archiver", "archive.org_bot", "CCBot", "GPTBot", "ChatGPT-User", "ClaudeBot", "Claude-Web",
    "anthropic-ai", "PerplexityBot", "Amazonbot", "Diffbot", "omgili", "Neevabot",
    # link previews and social
    "facebookexternalhit", "Facebot", "Twitterbot", "LinkedInBot", "Slackbot", "Slack-ImgProxy",
    "TelegramBot", "WhatsApp", "Discordbot", "Pinterestbot", "redditbot", "Embedly", "SkypeUriPreview",
    # monitors and fetchers
    "UptimeRobot", "Pingdom", "StatusCake", "Site24x7", "NewRelicPinger", "W3C_Validator", "Nutch",
    "heritrix", "Wget", "curl", "python-requests", "Python-urllib", "Go-http-client", "libwww-perl",
    "Java", "okhttp", "Apache-HttpClient", "HeadlessChrome", "PhantomJS", "Scrapy",
)
#: generic words: a product ending in "bot" with a version ("SomethingBot/1.0"), "bot" alone, crawler, spider
_GENERIC = r"[a-z0-9_.-]*bot/|bot(?![a-z0-9])|crawler|spider"

_PATTERN = re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(n) for n in BOT_NAMES) + "|" + _GENERIC + ")",
                      re.IGNORECASE)


def is_bot(agent: str | None) -> bool:
    """Whether a user agent names a well-known crawler or calls itself a bot/crawler/spider."""
    return bool(agent) and _PATTERN.search(agent) is not None
