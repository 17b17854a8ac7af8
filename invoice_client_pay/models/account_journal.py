from odoo import api, models


class AccountJournal(models.Model):
    _inherit = "account.journal"

    # === BUSINESS METHODS === #

    @api.model
    def _get_client_payment_default_journal(self, company):
        """The journal back-office client payments and refunds propose first:
        the company's first bank or cash journal."""
        return self.search(
            [
                *self._check_company_domain(company),
                ("type", "in", ("bank", "cash")),
            ],
            limit=1,
        )
