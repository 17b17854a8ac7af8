from collections import defaultdict

from odoo import api, fields, models

from ..utils import (
    merged_trigger_tree,
    propagation_searches_remembered,
    remember_matching_groups,
)


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

    # === BUSINESS METHODS === #

    @api.model
    def _update_matching_number(self, amls):
        """In the credit application (``client_credit_apply``), Odoo's
        numbering, written with the items' other changes.

        Odoo writes the matching numbers with a statement of their own, drops
        them from the cache, and its reconciliation reads them back at once,
        then searches the items of each number (``_reconciled_by_number``). A
        number is the item's full reconciliation if it has one, else "P" and
        the number of its group, both known here: the number goes into the
        cache as a pending write, as the ORM's own writes do, and is written
        with the item's residual amounts (see ``_write_matching_numbers``).
        The groups numbered are remembered for the rest of the run (see
        ``matching_groups_remembered``).

        The numbering is Odoo's, line for line (``account.partial.reconcile``,
        19.0); a test compares the numbers with those of Odoo's own method.
        """
        if not self.env.context.get("client_credit_apply"):
            return super()._update_matching_number(amls)
        amls = amls._all_reconciled_lines()
        all_partials = amls.matched_debit_ids | amls.matched_credit_ids

        # Each group of items joined by matchings is numbered with the smallest
        # id of its matchings (Odoo's comments, shortened).
        number2lines = {}
        line2number = {}
        for partial in all_partials.sorted("id"):
            debit_min_id = line2number.get(partial.debit_move_id.id)
            credit_min_id = line2number.get(partial.credit_move_id.id)
            if debit_min_id and credit_min_id:  # two groups merged
                if debit_min_id != credit_min_id:
                    min_min_id = min(debit_min_id, credit_min_id)
                    max_min_id = max(debit_min_id, credit_min_id)
                    for line_id in number2lines[max_min_id]:
                        line2number[line_id] = min_min_id
                    number2lines[min_min_id].extend(number2lines.pop(max_min_id))
            elif debit_min_id:  # an item added to a group
                number2lines[debit_min_id].append(partial.credit_move_id.id)
                line2number[partial.credit_move_id.id] = debit_min_id
            elif credit_min_id:
                number2lines[credit_min_id].append(partial.debit_move_id.id)
                line2number[partial.debit_move_id.id] = credit_min_id
            else:  # a new group
                number2lines[partial.id] = [
                    partial.debit_move_id.id,
                    partial.credit_move_id.id,
                ]
                line2number[partial.debit_move_id.id] = partial.id
                line2number[partial.credit_move_id.id] = partial.id

        numbered = self._write_matching_numbers(number2lines)
        remember_matching_groups(self.env.cr, amls.ids, numbered)
        (amls - amls.browse(list(line2number))).matching_number = False

    @api.model
    def _write_matching_numbers(self, number2lines):
        """Give the items of the groups ``number2lines`` ({number: item ids})
        the matching numbers Odoo's statement gives them, in the cache, to be
        written with their other pending values; return the items of each
        matching number ({matching number: item ids}).

        The number is the item's full reconciliation if it has one, else "P"
        and the number of its group. Odoo's statement reads the full
        reconciliation in the row once written: the cache holds it, pending
        or not; only items it lacks are read (those of a group the credit was
        in already, found by their number)."""
        lines = self.env["account.move.line"].sudo()
        fulls = lines._fields["full_reconcile_id"]._get_cache(self.env)
        lines.browse(
            [
                line_id
                for ids in number2lines.values()
                for line_id in ids
                if line_id not in fulls
            ]
        ).fetch(["full_reconcile_id"])
        numbered = defaultdict(list)
        for number, ids in number2lines.items():
            for line_id in ids:
                full_id = fulls[line_id]
                numbered[str(full_id) if full_id else f"P{number}"].append(line_id)
        number_field = lines._fields["matching_number"]
        for matching_number, ids in numbered.items():
            number_field._update_cache(lines.browse(ids), matching_number, dirty=True)
        return numbered
