DROP TABLE projects;
DROP TABLE project_status_enum;
