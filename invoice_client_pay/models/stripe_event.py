from datetime import timedelta

from odoo import api, fields, models

# Stripe retries an event for up to 3 days: an id is kept well beyond that, so
# a retry or a replay of it is always recognised.
RETENTION_DAYS = 30


class StripeEvent(models.Model):
    """Stripe events already processed: a duplicate delivery or a replay of one
    of them is acknowledged and ignored. An event is recorded only when its
    processing succeeded."""

    _name = "invoice_client_pay.stripe.event"
    _description = "Processed Stripe Event"
    _order = "id desc"
    _log_access = False

    event_id = fields.Char(required=True, readonly=True)
    event_type = fields.Char(readonly=True)
    received_at = fields.Datetime(readonly=True, index=True)

    _event_id_unique = models.Constraint(
        "UNIQUE(event_id)", "A Stripe event is processed once."
    )

    # === BUSINESS METHODS === #

    @api.model
    def _cron_prune_processed_events(self, retention_days=RETENTION_DAYS):
        """Forget the events processed more than ``retention_days`` ago, long
        after Stripe stopped retrying them (3 days)."""
        limit = fields.Datetime.now() - timedelta(days=retention_days)
        old = self.search([("received_at", "<", limit)])
        old.unlink()
        return len(old)
