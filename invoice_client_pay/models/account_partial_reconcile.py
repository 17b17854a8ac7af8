from odoo import api, fields, models

from ..utils import merged_trigger_tree, propagation_searches_remembered


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    client_credit_applied = fields.Boolean(
        string="Paid From Credit",
        readonly=True,
        help="This matching paid an invoice from the client's credit.",
    )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        # The flag rides on the matching itself, so unreconciling removes it with it:
        # "paid from credit" can never outlive the ledger entry that proves it.
        # Only the matchings of receivable items: the reconciliation that
        # matches them also matches cash-basis and exchange difference items.
        if self.env.context.get("client_credit_apply"):
            receivable_ids = set(
                self.env["account.move.line"]
                .browse([vals["debit_move_id"] for vals in vals_list])
                .filtered(lambda line: line.account_type == "asset_receivable")
                .ids
            )
            for vals in vals_list:
                if vals.get("debit_move_id") in receivable_ids:
                    vals.setdefault("client_credit_applied", True)
        return super().create(vals_list)

    @api.model
    def _prepare_create_values(self, vals_list):
        """For a matching paid from credit, its amounts come after the company
        and currencies (which Odoo precomputes and adds after the given
        values): the ORM caches each amount rounded by its currency field in
        the order given, and a currency not cached yet is read from the row,
        one query per currency field, before the row even exists."""
        result = super()._prepare_create_values(vals_list)
        if not self.env.context.get("client_credit_apply"):
            return result
        fields = self._fields
        return [
            dict(
                sorted(
                    vals.items(),
                    key=lambda item: (
                        item[0] in fields and fields[item[0]].type == "monetary"
                    ),
                )
            )
            for vals in result
        ]

    def modified(self, fnames, create=False, before=False):
        """A matching paid from credit propagates its changes answering each
        inverse search once (see ``propagation_searches_remembered``)."""
        if not (create and self.env.context.get("client_credit_apply")):
            return super().modified(fnames, create=create, before=before)
        with propagation_searches_remembered(self.env.cr):
            return super().modified(fnames, create=create, before=before)

    def _modified(self, fields, create):
        """A matching paid from credit propagates along the merged trigger tree
        of its fields remembered (see ``merged_trigger_tree``), as the ORM
        would walk the one it merges anew."""
        if not (create and self.env.context.get("client_credit_apply")):
            return super()._modified(fields, create)
        tree = merged_trigger_tree(self, fields)
        if not tree:
            return ()
        return (
            self.sudo().with_context(active_test=False)._modified_triggers(tree, create)
        )
