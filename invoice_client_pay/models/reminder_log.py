from odoo import api, fields, models
from odoo.tools import SQL


class ReminderLog(models.Model):
    """Which reminder step was sent for which document: at most once per
    document, step and occurrence (the database says so). The row is claimed
    in the transaction that queues the email, so a run that is retried, or
    two runs at once, send it once."""

    _name = "invoice_client_pay.reminder.log"
    _description = "Payment Reminder Sent"
    _order = "date desc, id desc"

    res_model = fields.Char(string="Document Model", required=True, readonly=True)
    res_id = fields.Many2oneReference(
        string="Document", model_field="res_model", required=True, readonly=True
    )
    step_id = fields.Many2one(
        comodel_name="invoice_client_pay.reminder.step",
        required=True,
        readonly=True,
        ondelete="cascade",
        index=True,
    )
    occurrence = fields.Integer(required=True, default=0, readonly=True)
    partner_id = fields.Many2one(
        comodel_name="res.partner", string="Client", readonly=True, index=True
    )
    company_id = fields.Many2one(comodel_name="res.company", readonly=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now, readonly=True)

    _unique_step = models.Constraint(
        "UNIQUE(res_model, res_id, step_id, occurrence)",
        "A reminder step is sent once per document.",
    )

    # === BUSINESS METHODS === #

    @api.model
    def _claim(self, rows):
        """Insert the logs of ``rows`` that do not exist yet and return those.

        ``rows``: iterable of (document, step, occurrence, client). A row that
        another transaction holds waits for it: committed, it is not returned
        (or, under repeatable read, the transaction fails with a serialization
        error and is retried, then finds it); rolled back, it is ours.

        :return: set of (res_model, res_id, step_id, occurrence) claimed now
        """
        rows = list(rows)
        if not rows:
            return set()
        self.env.flush_all()
        uid = self.env.uid
        now = fields.Datetime.now()
        values = SQL(", ").join(
            SQL(
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                document._name,
                document.id,
                step.id,
                occurrence,
                client.id,
                document.company_id.id,
                now,
                uid,
                SQL("now() AT TIME ZONE 'UTC'"),
                uid,
                SQL("now() AT TIME ZONE 'UTC'"),
            )
            for document, step, occurrence, client in rows
        )
        result = self.env.execute_query(
            SQL(
                """
                INSERT INTO invoice_client_pay_reminder_log
                    (res_model, res_id, step_id, occurrence, partner_id,
                     company_id, date, create_uid, create_date, write_uid,
                     write_date)
                VALUES %s
                ON CONFLICT (res_model, res_id, step_id, occurrence) DO NOTHING
                RETURNING res_model, res_id, step_id, occurrence
                """,
                values,
            )
        )
        return {tuple(row) for row in result}

    @api.model
    def _get_last_reminder_dates(self, documents):
        """{(model, id): datetime of the last reminder} of ``documents`` (any
        models), one grouped query per model."""
        dates = {}
        for model in {document._name for document in documents}:
            ids = [document.id for document in documents if document._name == model]
            for res_id, date in self.sudo()._read_group(
                [("res_model", "=", model), ("res_id", "in", ids)],
                ["res_id"],
                ["date:max"],
            ):
                dates[model, res_id] = date
        return dates
