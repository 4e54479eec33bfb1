"""The invoice audit before issue: an invoice checked against its purchase order and the buyer's terms.

(Being written: see issue 3. `audit_invoice` returns the findings; a tenant makes a check blocking.)
"""
