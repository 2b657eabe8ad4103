"""Alerts: what the daemon tells its operator, through apprise (Telegram, Slack, e-mail,
ntfy, webhooks…), never slowing a wake.

``settings`` reads ``[notify]``; ``events`` turns journal entries and the daemon's log
lines into notices; ``sender`` queues, rate-limits, sends with retries and records each
alert in the fund's alerts stream; ``watcher`` connects them to a running daemon.
"""
