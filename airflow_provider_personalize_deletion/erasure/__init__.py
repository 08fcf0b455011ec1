"""
The GDPR/CCPA erasure pipeline's business logic, used by ``dags/personalize_gdpr_erasure.py``.

The DAG only wires tasks; what each task does lives here, where it is tested.
"""
