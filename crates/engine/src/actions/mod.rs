//! The seven Encharge actions: fields, default mappings, payload validation and requests.
