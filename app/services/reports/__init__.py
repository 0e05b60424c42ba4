"""The signed report as it leaves the system: a PDF for the chart and a FHIR R4
DiagnosticReport for the hospital information system, both of one report version.

`regions` pictures the regions marked "include in report" when a version is signed
(frozen with it), `document` gathers a version's facts (audited, site rules),
`pdf` and `fhir` write them, `words` holds every word the documents print.
"""
