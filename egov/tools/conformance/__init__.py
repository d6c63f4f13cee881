"""The conformance kit: a vendor's running system tested against the contracts and the rules of its role.

`egov conformance run --role ROLE` plays every counterpart of the role (architecture/conformance-roles.yaml)
on the broker the settings name, against the vendor's system connected to it in place of the stand-in, and
judges what that system writes: keys, CloudEvents headers, released contracts, the regulations' rules,
deadlines in business time, the status rules, redelivery, interleaving and poison messages. It needs nothing
a vendor would not have: the contracts, the broker and the `conformance` principal's credentials.

- `wire`: the kit's own broker clients, every record sent and received kept for the transcripts;
- `checks`: a check's verdict, and the checks every role shares (envelope, key, contract);
- `agency`, `documents`: each role's scenarios and its own checks;
- `runner`: one run of a role; `report`: JUnit XML, the HTML report, the transcripts and the summary line.
"""
