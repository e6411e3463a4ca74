DROP TABLE service_flags;
DROP TABLE api_keys;
DROP TABLE coupon_codes;
DROP TABLE coupons;
