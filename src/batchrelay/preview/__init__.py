"""``batchrelay routes test``: what the daemon would send, rendered for real, sent nowhere.

``messages`` previews an event's routes and messages; ``notices`` an alert rule's notice or
a completion digest.
"""
