// v1 signed webhooks: implemented by the v1 work (see include/topgg/v1.hpp).
