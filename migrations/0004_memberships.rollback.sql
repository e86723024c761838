DROP TABLE memberships;
DROP TABLE membership_role_enum;
