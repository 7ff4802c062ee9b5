"""Delivery: group, render, send, record. See ``templates`` (rendering) and the dispatcher.

Keep this module free of imports: notifiers import ``delivery.templates``, and the
dispatcher imports the notifiers, so importing the dispatcher here would make a cycle.
"""
